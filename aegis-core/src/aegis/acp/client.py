"""The client side of the Agent Client Protocol (ACP v1), on one JSON-RPC connection.

:class:`AcpClient` sends the client's requests (``initialize``, ``session/new``,
``session/load``, ``session/prompt``, ``session/set_mode``...) and answers the
agent's: ``session/request_permission`` by the session's permission gate
(:class:`aegis.approvals.gate.PermissionGate`: the profile's approval rules, a
person, the permission level by the tool's kind), ``fs/read_text_file`` and
``fs/write_text_file`` inside the session's working directory only (symlinks
resolved; writes refused outright for a ``read`` profile). Anything else the agent
asks is answered "method not found" (aegis offers no terminals).

It knows nothing of processes: give it a writer and feed :meth:`AcpClient.serve`
the agent's output lines. :class:`aegis.acp.driver.AcpDriver` does that for a CLI.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from aegis import __version__
from aegis.acp.jsonrpc import (
    INVALID_PARAMS,
    JsonRpcConnection,
    JsonRpcError,
    Writer,
)
from aegis.acp.translate import tool_kind
from aegis.approvals.gate import PermissionGate, ToolPermission, Verdict
from aegis.config.enums import Permission
from aegis.driver import McpServer
from aegis.events import ToolKind
from aegis.permissions import refusal, trusted_tool
from aegis.process import Diagnostics

PROTOCOL_VERSION = 1
"""The ACP version aegis speaks."""

CLIENT_CAPABILITIES: dict[str, Any] = {
    "fs": {"readTextFile": True, "writeTextFile": True},
    "terminal": False,
}
"""What aegis offers agents: file reads and writes (inside the session's cwd), no terminals."""

RESOURCE_NOT_FOUND = -32002
"""ACP's error code for a missing resource (here: a file)."""

_ALLOW_KINDS = ("allow_once", "allow_always")
_REJECT_KINDS = ("reject_once", "reject_always")

UpdateHandler = Callable[[str, dict[str, Any]], None]
"""Called with ``(session_id, update)`` for every ``session/update``, in order."""

PermissionObserver = Callable[[str, dict[str, Any], ToolKind, Verdict], None]
"""Called with ``(session_id, tool_call, kind, verdict)`` before a permission answer is sent."""

ToolDescriber = Callable[[dict[str, Any]], tuple[str, dict[str, Any], tuple[str, ...], str]]
"""``(name, input, paths, title)`` of a permission request's ``toolCall``."""


def acp_mcp_servers(servers: Sequence[McpServer]) -> list[dict[str, Any]]:
    """aegis's MCP servers in the ACP ``McpServer`` http shape of ``session/new``."""
    return [
        {
            "type": "http",
            "name": server.name,
            "url": server.url,
            "headers": [{"name": k, "value": v} for k, v in server.headers.items()],
        }
        for server in servers
    ]


def permission_outcome(options: Sequence[Mapping[str, Any]], allow: bool) -> dict[str, Any]:
    """The ``outcome`` answering a permission request with ``options``.

    The option is chosen by its ``kind``, never by its position (gemini lists
    ``allow_always`` first): a one-time choice is preferred, so that every later
    call is decided again by aegis. Without an option of the wanted sort, the
    answer is ``cancelled``.
    """
    for kind in _ALLOW_KINDS if allow else _REJECT_KINDS:
        for option in options:
            if option.get("kind") == kind and isinstance(option.get("optionId"), str):
                return {"outcome": "selected", "optionId": option["optionId"]}
    return {"outcome": "cancelled"}


class AcpClient:
    """An ACP client on one connection; see the module documentation."""

    def __init__(
        self,
        write: Writer,
        *,
        permission: Permission = Permission.auto,
        on_update: UpdateHandler | None = None,
        on_permission: PermissionObserver | None = None,
        diagnostics: Diagnostics | None = None,
        name: str = "agent",
        mcp_servers: tuple[McpServer, ...] = (),
        gate: PermissionGate | None = None,
        describe: ToolDescriber | None = None,
    ) -> None:
        self.permission = permission
        self.mcp_servers = mcp_servers
        self.gate = gate if gate is not None else PermissionGate(trusted=mcp_servers)
        self.describe = describe
        self.on_update = on_update
        self.on_permission = on_permission
        self.diagnostics = diagnostics if diagnostics is not None else Diagnostics()
        self.name = name
        self.connection = JsonRpcConnection(
            write,
            on_request=self._on_request,
            on_notification=self._on_notification,
            diagnostics=self.diagnostics,
            name=name,
        )
        self.agent_capabilities: dict[str, Any] = {}
        self.agent_info: dict[str, Any] = {}
        self.auth_methods: list[dict[str, Any]] = []
        self._cwds: dict[str, Path] = {}
        self._tool_kinds: dict[str, ToolKind] = {}
        self._cancelling: set[str] = set()
        self._deciding: dict[str, set[anyio.CancelScope]] = {}
        self._offered: dict[str, tuple[str, ...]] = {}

    async def serve(self, lines: AsyncIterable[bytes]) -> None:
        """Read the agent's output until it ends (run it in a task)."""
        await self.connection.serve(lines)

    # --- requests to the agent ----------------------------------------------------------

    async def initialize(self) -> dict[str, Any]:
        """``initialize``: protocol version 1, file-system access, no terminal."""
        result = _object(
            await self.connection.request(
                "initialize",
                {
                    "protocolVersion": PROTOCOL_VERSION,
                    "clientCapabilities": CLIENT_CAPABILITIES,
                    "clientInfo": {"name": "aegis", "title": "aegis", "version": __version__},
                },
            )
        )
        self.agent_capabilities = _object(result.get("agentCapabilities"))
        self.agent_info = _object(result.get("agentInfo"))
        methods = result.get("authMethods")
        self.auth_methods = (
            [m for m in methods if isinstance(m, dict)] if isinstance(methods, list) else []
        )
        return result

    async def authenticate(self, method_id: str) -> dict[str, Any]:
        """``authenticate`` with one of the agent's ``authMethods``."""
        return _object(await self.connection.request("authenticate", {"methodId": method_id}))

    async def new_session(self, cwd: Path, mcp_servers: Sequence[McpServer] = ()) -> dict[str, Any]:
        """``session/new``; the result holds ``sessionId`` (and modes, models, options)."""
        result = _object(
            await self.connection.request(
                "session/new", {"cwd": str(cwd), "mcpServers": acp_mcp_servers(mcp_servers)}
            )
        )
        session_id = result.get("sessionId")
        if not isinstance(session_id, str) or not session_id:
            raise JsonRpcError(INVALID_PARAMS, "session/new answered without a sessionId")
        self._cwds[session_id] = cwd
        return result

    async def load_session(
        self, session_id: str, cwd: Path, mcp_servers: Sequence[McpServer] = ()
    ) -> dict[str, Any]:
        """``session/load`` (the agent replays the conversation as updates first)."""
        return await self._reopen("session/load", session_id, cwd, mcp_servers)

    async def resume_session(
        self, session_id: str, cwd: Path, mcp_servers: Sequence[McpServer] = ()
    ) -> dict[str, Any]:
        """``session/resume``: like ``session/load`` without the replay."""
        return await self._reopen("session/resume", session_id, cwd, mcp_servers)

    async def _reopen(
        self, method: str, session_id: str, cwd: Path, mcp_servers: Sequence[McpServer]
    ) -> dict[str, Any]:
        # Set before the request: the agent may read files while it replays.
        self._cwds[session_id] = cwd
        params = {
            "sessionId": session_id,
            "cwd": str(cwd),
            "mcpServers": acp_mcp_servers(mcp_servers),
        }
        return _object(await self.connection.request(method, params))

    async def prompt(self, session_id: str, blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``session/prompt``; returns the response (``stopReason``, maybe ``usage``)."""
        self._cancelling.discard(session_id)
        params = {"sessionId": session_id, "prompt": [dict(b) for b in blocks]}
        return _object(await self.connection.request("session/prompt", params))

    async def cancel(self, session_id: str) -> None:
        """``session/cancel``; permission questions still open are answered ``cancelled``."""
        self._cancelling.add(session_id)
        for scope in self._deciding.get(session_id, set()):
            scope.cancel()
        await self.connection.notify("session/cancel", {"sessionId": session_id})

    async def set_mode(self, session_id: str, mode_id: str) -> dict[str, Any]:
        """``session/set_mode`` to one of the session's ``availableModes``."""
        params = {"sessionId": session_id, "modeId": mode_id}
        return _object(await self.connection.request("session/set_mode", params))

    async def set_config_option(
        self, session_id: str, config_id: str, value: str
    ) -> dict[str, Any]:
        """``session/set_config_option``; the result holds all ``configOptions``."""
        params = {"sessionId": session_id, "configId": config_id, "value": value}
        return _object(await self.connection.request("session/set_config_option", params))

    # --- decisions (override to ask a person) -------------------------------------------

    async def decide_permission(
        self, session_id: str, tool_call: Mapping[str, Any], kind: ToolKind
    ) -> bool | Verdict:
        """Whether the agent may run ``tool_call``: the permission gate's verdict (which
        may wait for a person)."""
        tool_id = str(tool_call.get("toolCallId", ""))
        if self.describe is not None:
            name, tool_input, paths, title = self.describe(dict(tool_call))
        else:
            name = next(iter(_tool_names(tool_call)), "tool")
            raw = tool_call.get("rawInput")
            tool_input = dict(raw) if isinstance(raw, Mapping) else {}
            paths, title = _paths(tool_call), str(tool_call.get("title") or "")
        tool = ToolPermission(
            tool_call_id=tool_id,
            name=name,
            kind=kind,
            input=tool_input,
            paths=paths,
            title=title,
            options=self._offered.get(tool_id, ()),
            names=tuple(n for n in _tool_names(tool_call) if n != name),
        )
        return await self.gate.decide(self.permission, tool)

    # --- requests from the agent --------------------------------------------------------

    async def _on_request(self, method: str, params: Any) -> Any:
        params = params if isinstance(params, dict) else {}
        if method == "session/request_permission":
            return await self._request_permission(params)
        if method == "fs/read_text_file":
            return await self._read_text_file(params)
        if method == "fs/write_text_file":
            return await self._write_text_file(params)
        raise JsonRpcError.method_not_found(method)

    async def _on_notification(self, method: str, params: Any) -> None:
        if method != "session/update" or not isinstance(params, dict):
            self.diagnostics.add(f"aegis: ignored notification {method} from {self.name}")
            return
        update = params.get("update")
        session_id = params.get("sessionId")
        if not isinstance(update, dict) or not isinstance(session_id, str):
            self.diagnostics.add(f"aegis: ignored a malformed session/update from {self.name}")
            return
        if update.get("sessionUpdate") in ("tool_call", "tool_call_update") and update.get("kind"):
            self._tool_kinds[str(update.get("toolCallId"))] = tool_kind(update["kind"])
        if self.on_update is not None:
            self.on_update(session_id, update)

    async def _request_permission(self, params: dict[str, Any]) -> dict[str, Any]:
        session_id = str(params.get("sessionId", ""))
        tool_call = _object(params.get("toolCall"))
        options = [o for o in params.get("options") or [] if isinstance(o, dict)]
        tool_id = str(tool_call.get("toolCallId", ""))
        kind = (
            tool_kind(tool_call["kind"])
            if tool_call.get("kind")
            else self._tool_kinds.get(tool_id, ToolKind.other)
        )
        if session_id in self._cancelling:
            # ACP: after session/cancel, every open permission request is answered cancelled.
            return {"outcome": {"outcome": "cancelled"}}
        if any(trusted_tool(name, self.mcp_servers) for name in _tool_names(tool_call)):
            return {"outcome": permission_outcome(options, True)}
        decided: bool | Verdict = False
        with anyio.CancelScope() as scope:
            self._deciding.setdefault(session_id, set()).add(scope)
            try:
                self._offered[tool_id] = tuple(
                    str(o.get("name") or o.get("optionId")) for o in options
                )
                decided = await self.decide_permission(session_id, tool_call, kind)
            finally:
                self._deciding[session_id].discard(scope)
                self._offered.pop(tool_id, None)
        if scope.cancelled_caught:
            return {"outcome": {"outcome": "cancelled"}}
        verdict = (
            decided
            if isinstance(decided, Verdict)
            else Verdict(decided, "" if decided else refusal(self.permission, kind))
        )
        if not verdict.allowed and not verdict.asked:
            self.diagnostics.add(f"aegis: {verdict.message} ({tool_id})")
        if self.on_permission is not None:
            self.on_permission(session_id, tool_call, kind, verdict)
        return {"outcome": permission_outcome(options, verdict.allowed)}

    async def _inside_cwd(self, params: Mapping[str, Any]) -> Path:
        """The real path of ``params.path`` if it lies inside the session's cwd, else an error."""
        session_id = params.get("sessionId")
        cwd = self._cwds.get(session_id) if isinstance(session_id, str) else None
        if cwd is None:
            raise JsonRpcError.invalid_params(f"unknown session {session_id!r}")
        raw = params.get("path")
        if not isinstance(raw, str) or not raw:
            raise JsonRpcError.invalid_params("path is missing")
        # realpath resolves every symlink, so a link inside cwd that points out is caught.
        root, real = await anyio.to_thread.run_sync(
            lambda: (os.path.realpath(cwd), os.path.realpath(cwd / raw))
        )
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise JsonRpcError.invalid_params(
                f"aegis refused access to {raw}: "
                f"it is outside the session's working directory {cwd}"
            )
        return Path(real)

    async def _read_text_file(self, params: dict[str, Any]) -> dict[str, Any]:
        path = await self._inside_cwd(params)
        try:
            text = await anyio.Path(path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise JsonRpcError(
                RESOURCE_NOT_FOUND, f"Resource not found: {params['path']}"
            ) from None
        except OSError as exc:
            raise JsonRpcError.invalid_params(
                f"cannot read {params['path']}: {exc.strerror}"
            ) from None
        line, limit = params.get("line"), params.get("limit")
        if isinstance(line, int) or isinstance(limit, int):
            lines = text.splitlines(keepends=True)
            start = max(line - 1, 0) if isinstance(line, int) else 0
            end = start + limit if isinstance(limit, int) else None
            text = "".join(lines[start:end])
        return {"content": text}

    async def _write_text_file(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.permission is Permission.read:
            raise JsonRpcError.invalid_params(refusal(self.permission, ToolKind.edit))
        content = params.get("content")
        if not isinstance(content, str):
            raise JsonRpcError.invalid_params("content is missing")
        path = await self._inside_cwd(params)
        try:
            await anyio.Path(path.parent).mkdir(parents=True, exist_ok=True)
            await anyio.Path(path).write_text(content, encoding="utf-8")
        except OSError as exc:
            raise JsonRpcError.invalid_params(
                f"cannot write {params['path']}: {exc.strerror}"
            ) from None
        return {}


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _paths(tool_call: Mapping[str, Any]) -> tuple[str, ...]:
    locations = tool_call.get("locations")
    if not isinstance(locations, list):
        return ()
    paths = (loc.get("path") for loc in locations if isinstance(loc, Mapping))
    return tuple(p for p in paths if isinstance(p, str) and p)


def _tool_names(tool_call: Mapping[str, Any]) -> list[str]:
    """What a permission request may call its tool: ACP has no name field, so the id's
    prefix (gemini: ``mcp_aegis_aegis_handoff__1``), the title (opencode) and a
    ``_meta`` ``toolName`` are all tried."""
    names = [
        str(tool_call.get("toolCallId", "")).split("__", 1)[0],
        str(tool_call.get("title", "")),
    ]
    meta = tool_call.get("_meta")
    if isinstance(meta, Mapping) and isinstance(meta.get("toolName"), str):
        names.append(meta["toolName"])
    return [name for name in names if name]
