"""The plane's tools: collected from the ``register_tools`` hook, described and called.

Every tool, aegis's built-ins included (:mod:`aegis.builtins.mcp_tools`), comes
through the hook. A tool is a typed ``async def``; the MCP SDK's own function
introspection turns its parameters (after the first, which receives the
:class:`~aegis.mcp.context.ToolContext`) into the input schema and validates
arguments against them, and its return annotation into the output schema.

Whatever a tool does wrong stays inside its call: bad arguments, a
:class:`~aegis.mcp.context.ToolError` and a crash alike become an error result
(``isError``) with a message for the model, never an error of the plane.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from mcp import types
from mcp.server.mcpserver.exceptions import ToolError as SdkToolError
from mcp.server.mcpserver.exceptions import UnexpectedToolError
from mcp.server.mcpserver.tools.base import Tool
from pydantic import ValidationError

from aegis.mcp.context import ToolContext, ToolError

if TYPE_CHECKING:
    from aegis.plugins import PluginHost

log = logging.getLogger("aegis.mcp")

TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,47}")
"""Tool names: the CLIs prefix them (``mcp__aegis__``, ``mcp_aegis_``, ``aegis_``) and model
APIs cap function names at 64 characters, so a tool name has at most 48."""


@dataclass(frozen=True)
class RegisteredTool:
    """A tool and the plugin that registered it."""

    plugin: str
    tool: Tool


def error_result(message: str) -> types.CallToolResult:
    """A tool result that reports ``message`` as an error (``isError``)."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


class ToolRegistry:
    """The tools of one plane, by name."""

    def __init__(self) -> None:
        self._tools: dict[str, RegisteredTool] = {}

    @classmethod
    def from_plugins(cls) -> ToolRegistry:
        """Every tool the installed plugins register (a plugin whose registration is
        refused is marked failed, with the reason, in ``aegis plugins``).

        Built once per plugin host and shared by its planes (it is read-only).
        """
        from aegis.plugins import get_host

        return get_host().derived(cls.from_host)

    @classmethod
    def from_host(cls, plugins: PluginHost) -> ToolRegistry:
        """The tools that the plugins of ``plugins`` register."""
        from aegis import hookspecs

        registry = cls()
        plugins.collect(hookspecs.register_tools, registry.add)
        return registry

    def add(
        self,
        plugin: str,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        """Register ``fn`` as a tool (what the hook's ``register`` does, with the plugin's name)."""
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool {fn!r} must be an async function (async def)")
        params = list(inspect.signature(fn).parameters.values())
        if not params or params[0].kind not in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            raise TypeError(
                f"tool {fn.__name__!r} must take the caller's ToolContext as its first parameter"
            )
        tool_name = name or fn.__name__
        if not TOOL_NAME.fullmatch(tool_name):
            raise ValueError(
                f"invalid tool name {tool_name!r}: use up to 48 letters, digits, '_' and '-'"
            )
        taken = self._tools.get(tool_name)
        if taken is not None:
            raise ValueError(f"tool {tool_name!r} is already registered by plugin {taken.plugin}")
        tool = Tool.from_function(
            fn,
            name=tool_name,
            description=description or inspect.getdoc(fn) or "",
            context_kwarg=params[0].name,
        )
        self._tools[tool_name] = RegisteredTool(plugin, tool)

    def names(self) -> list[str]:
        """The tool names, in registration order (built-ins first)."""
        return list(self._tools)

    def get(self, name: str) -> RegisteredTool | None:
        return self._tools.get(name)

    def describe(self) -> list[types.Tool]:
        """The ``tools/list`` answer: name, description, input and output schema of each."""
        return [
            types.Tool(
                name=entry.tool.name,
                description=entry.tool.description,
                input_schema=entry.tool.parameters,
                output_schema=entry.tool.output_schema,
            )
            for entry in self._tools.values()
        ]

    def input_schema(self, name: str) -> dict[str, Any] | None:
        entry = self._tools.get(name)
        return None if entry is None else entry.tool.parameters

    async def call(
        self, name: str, arguments: dict[str, Any], context: ToolContext
    ) -> types.CallToolResult:
        """Call tool ``name`` for ``context``'s caller; every failure is an error result."""
        entry = self._tools.get(name)
        if entry is None:
            return error_result(f"no tool {name!r}; the tools are: {', '.join(self._tools)}")
        try:
            # The SDK hands its context object to the tool's context parameter; ours
            # goes in its place (the tool never sees an SDK context).
            result = await entry.tool.run(arguments, cast(Any, context), convert_result=True)
        except UnexpectedToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ToolError):  # raised on purpose, by the tool
                return error_result(str(cause))
            log.error("tool %s (plugin %s) crashed", name, entry.plugin, exc_info=cause)
            what = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
            return error_result(f"{name} failed with an internal error ({what}); see the aegis log")
        except SdkToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                return error_result(describe_invalid(name, cause, entry.tool.parameters))
            return error_result(str(cause) if cause is not None else str(exc))
        if not isinstance(result, types.CallToolResult):  # pragma: no cover - no input_required
            return error_result(f"{name} answered with an unsupported result")
        return result


def describe_invalid(name: str, error: ValidationError, schema: dict[str, Any]) -> str:
    """What was wrong with the arguments, and what the tool takes (never the values sent)."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    expected = ", ".join(
        f"{param} ({_type_of(spec)}{'' if param in required else ', optional'})"
        for param, spec in properties.items()
    )
    return (
        f"invalid arguments for {name}: {'; '.join(problems)}. It takes: {expected or 'nothing'}."
    )


def _type_of(spec: dict[str, Any]) -> str:
    if "type" in spec:
        return str(spec["type"])
    options = spec.get("anyOf") or spec.get("oneOf") or []
    kinds = [str(option.get("type")) for option in options if "type" in option]
    return " or ".join(kinds) if kinds else "any"
