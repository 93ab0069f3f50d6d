"""The MCP plane: an MCP server every agent aegis runs can call, to reach the others.

* :class:`McpPlane` (:mod:`aegis.mcp.plane`): the server's lifetime and what each
  session gets (its own token, its preamble); the runtime owns one.
* :class:`ToolContext` and :class:`ToolError` (:mod:`aegis.mcp.context`): what a
  tool registered through the ``register_tools`` hook receives and raises.
* :mod:`aegis.mcp.tokens` and :mod:`aegis.mcp.identity`: who is calling, from the
  bearer token of the HTTP request.
* :mod:`aegis.mcp.tools`: collecting, describing and calling the tools.
* :mod:`aegis.builtins.mcp_tools`: aegis's own tools, a plugin like any other.

This package is imported by plugins that define tools, so it stays light: the
MCP SDK is imported when a plane starts, not before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aegis.mcp.context import MAX_REQUEST_BYTES, MAX_TEXT_BYTES, ToolContext, ToolError, check_size

if TYPE_CHECKING:
    from aegis.mcp.plane import SERVER_NAME as SERVER_NAME
    from aegis.mcp.plane import McpPlane as McpPlane

__all__ = [
    "MAX_REQUEST_BYTES",
    "MAX_TEXT_BYTES",
    "SERVER_NAME",
    "McpPlane",
    "ToolContext",
    "ToolError",
    "check_size",
]


def __getattr__(name: str) -> Any:
    if name in ("McpPlane", "SERVER_NAME"):
        from aegis.mcp import plane

        return getattr(plane, name)
    raise AttributeError(f"module 'aegis.mcp' has no attribute {name!r}")
