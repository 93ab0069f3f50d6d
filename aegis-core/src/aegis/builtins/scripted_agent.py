"""The offline scripted agent: a small ACP v1 agent process whose replies follow rules.

Run as ``python -m aegis.builtins.scripted_agent``; it speaks ACP on stdin/stdout
(newline-delimited JSON-RPC, :mod:`aegis.acp.jsonrpc`) and is what the ``scripted``
provider (:mod:`aegis.builtins.scripted`) drives. Its environment:

``AEGIS_SCRIPTED_CONFIG``
    JSON ``{"rules": [ScriptRule...], "permission": "auto", "model": "scripted"}``.
``AEGIS_SCRIPTED_CONFIG_FILE``
    A file holding that JSON (used instead when it is large).
``AEGIS_SCRIPTED_STATE``
    The folder of session histories, one ``<session id>.jsonl`` each; by default
    ``.aegis/scripted/`` in the session's working directory.

A prompt's last text block is the message. The first rule whose ``match`` is found
in it answers: its tool calls run one by one, then it waits ``delay`` seconds, then
it streams ``reply`` in a few ``agent_message_chunk`` updates. Without a matching
rule the reply is ``echo: <message>``. A rule with an ``error`` answers the prompt with
that JSON-RPC error instead, as a CLI reports a failed model request. Tools:

``bash`` (``{"command"}``)
    runs ``/bin/sh -c command`` in the session's cwd, in a process group of its own
    (killed on cancel), stdout and stderr captured; kind ``execute``.
``read_file`` / ``write_file`` (``{"path"}`` / ``{"path", "content"}``)
    inside the cwd only, through the client's ``fs/*`` methods when it offers them;
    kinds ``read`` / ``edit``.
``mcp:<server>/<tool>`` (the tool's arguments)
    calls ``tool`` on the session's MCP server named ``server`` (streamable HTTP,
    with its headers), with the official ``mcp`` SDK; kind ``other``.

Unless the permission is ``auto``, the agent asks ``session/request_permission``
before ``edit`` and ``execute`` tools. ``session/cancel`` stops the turn at once
(``stopReason: cancelled``; the turn is not kept in the history). Usage counts one
token per word, in the prompt response's ``usage`` and a ``usage_update``; a rule's
``cost_usd`` adds to the session's cost, reported in the ``usage_update`` as ACP says.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio import CancelScope

from aegis import __version__
from aegis.acp.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    JsonRpcConnection,
    JsonRpcError,
    fd_lines,
    fd_writer,
)
from aegis.builtins.scripted import (
    CONFIG_ENV,
    CONFIG_FILE_ENV,
    STATE_ENV,
    ScriptedToolCall,
    ScriptRule,
)
from aegis.config.enums import Permission
from aegis.private_files import open_private, private_dir
from aegis.process import Diagnostics, kill_group

RESOURCE_NOT_FOUND = -32002
CONTEXT_SIZE = 1_000_000
"""The context window the agent claims in ``usage_update`` (in words)."""
MAX_OUTPUT = 1 << 20
"""A tool's output is cut to this many bytes."""

_KINDS = {"bash": "execute", "read_file": "read", "write_file": "edit"}
_ASKS_FOR = ("edit", "execute")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PLACEHOLDER = re.compile(r"\{(\d+|message|output|turn)\}")


class _StderrDiagnostics(Diagnostics):
    """The agent's notes go to stderr, where the client keeps them."""

    def add(self, line: str) -> None:
        super().add(line)
        print(line, file=sys.stderr, flush=True)


@dataclass
class _Session:
    id: str
    cwd: Path
    mcp_servers: list[dict[str, Any]]
    history_file: Path
    turns: int = 0
    words: int = 0
    cost: float | None = None
    """The session's running cost (USD), once a rule with ``cost_usd`` answered."""
    scope: CancelScope | None = None


@dataclass
class _ToolRun:
    ok: bool
    output: str
    raw: dict[str, Any] = field(default_factory=dict)


class ScriptedAgent:
    """The agent's logic: answers the client's requests and notifications."""

    def __init__(
        self,
        rules: Sequence[ScriptRule],
        *,
        permission: Permission = Permission.auto,
        model: str = "scripted",
        state_dir: Path | None = None,
    ) -> None:
        self.rules = list(rules)
        self.permission = permission
        self.model = model
        self.state_dir = state_dir
        self.client_capabilities: dict[str, Any] = {}
        self.sessions: dict[str, _Session] = {}
        self.connection: JsonRpcConnection | None = None
        self.tool_groups: set[int] = set()
        """Process groups of commands that left processes behind (killed by :meth:`close`)."""

    def close(self) -> None:
        """Kill what the agent's commands left running: nothing outlives the agent."""
        for group in self.tool_groups:
            kill_group(group, signal.SIGKILL)
        self.tool_groups.clear()

    # --- dispatch -----------------------------------------------------------------------

    async def on_request(self, method: str, params: Any) -> Any:
        params = params if isinstance(params, dict) else {}
        if method == "initialize":
            return self._initialize(params)
        if method == "authenticate":
            return {}
        if method == "session/new":
            return await self._new_session(params)
        if method == "session/load":
            return await self._load_session(params)
        if method == "session/prompt":
            return await self._prompt(params)
        if method == "session/set_config_option":
            return self._set_config_option(params)
        raise JsonRpcError.method_not_found(method)

    async def on_notification(self, method: str, params: Any) -> None:
        if method == "session/cancel" and isinstance(params, dict):
            # A prompt read just before this cancel (same chunk of input) is a task that
            # has not run yet: one checkpoint lets it start its turn, so the cancel finds it.
            await anyio.lowlevel.checkpoint()
            session = self.sessions.get(str(params.get("sessionId")))
            if session is not None and session.scope is not None:
                session.scope.cancel()

    # --- session set-up -----------------------------------------------------------------

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        capabilities = params.get("clientCapabilities")
        self.client_capabilities = capabilities if isinstance(capabilities, dict) else {}
        return {
            "protocolVersion": 1,
            "agentCapabilities": {
                "loadSession": True,
                "promptCapabilities": {"image": False, "audio": False, "embeddedContext": True},
                "mcpCapabilities": {"http": True, "sse": False},
            },
            "agentInfo": {
                "name": "aegis-scripted",
                "title": "aegis scripted agent",
                "version": __version__,
            },
            "authMethods": [],
        }

    def _config_options(self) -> list[dict[str, Any]]:
        return [
            {
                "id": "model",
                "name": "Model",
                "category": "model",
                "type": "select",
                "currentValue": self.model,
                "options": [{"value": self.model, "name": self.model}],
            }
        ]

    def _set_config_option(self, params: dict[str, Any]) -> dict[str, Any]:
        self._session(params)
        if params.get("configId") != "model" or params.get("value") != self.model:
            raise JsonRpcError.invalid_params(
                f"no option {params.get('configId')!r} with value {params.get('value')!r}"
            )
        return {"configOptions": self._config_options()}

    def _open(self, session_id: str, params: dict[str, Any]) -> _Session:
        cwd = params.get("cwd")
        if not isinstance(cwd, str) or not os.path.isabs(cwd):
            raise JsonRpcError.invalid_params("cwd must be an absolute path")
        servers = params.get("mcpServers")
        folder = self.state_dir or Path(cwd) / ".aegis" / "scripted"
        session = _Session(
            session_id,
            Path(cwd),
            [s for s in servers if isinstance(s, dict)] if isinstance(servers, list) else [],
            folder / f"{session_id}.jsonl",
        )
        self.sessions[session_id] = session
        return session

    async def _new_session(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._open(f"scripted-{uuid.uuid4().hex}", params)
        # The file exists from the start, so that a session without turns resumes too.
        await anyio.to_thread.run_sync(_create_history, session.history_file)
        return {"sessionId": session.id, "configOptions": self._config_options()}

    async def _load_session(self, params: dict[str, Any]) -> dict[str, Any]:
        session_id = params.get("sessionId")
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            raise JsonRpcError.invalid_params(f"not a session id: {session_id!r}")
        session = self._open(session_id, params)
        try:
            text = await anyio.Path(session.history_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            del self.sessions[session_id]
            raise JsonRpcError(
                RESOURCE_NOT_FOUND, f"Resource not found: session {session_id}"
            ) from None
        for line in text.splitlines():
            entry = json.loads(line)
            await self._replay(session, entry)
        return {"configOptions": self._config_options()}

    async def _replay(self, session: _Session, entry: dict[str, Any]) -> None:
        role = entry.get("role")
        if role == "user":
            session.turns += 1
            session.words += _words(entry["text"])
            await self._update(session, _chunk("user_message_chunk", entry["text"]))
        elif role == "assistant":
            session.words += _words(entry["text"])
            await self._update(session, _chunk("agent_message_chunk", entry["text"]))
        elif role == "tool":
            await self._update(
                session,
                {
                    "sessionUpdate": "tool_call",
                    "toolCallId": entry["id"],
                    "title": entry["title"],
                    "kind": entry["kind"],
                    "status": "completed" if entry["ok"] else "failed",
                    "rawInput": entry["input"],
                    "content": [_text_content(entry["output"])],
                    "_meta": {"toolName": entry["name"]},
                },
            )

    def _session(self, params: dict[str, Any]) -> _Session:
        session = self.sessions.get(str(params.get("sessionId")))
        if session is None:
            raise JsonRpcError.invalid_params(f"unknown session {params.get('sessionId')!r}")
        return session

    # --- turns --------------------------------------------------------------------------

    async def _prompt(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._session(params)
        if session.scope is not None:
            raise JsonRpcError.invalid_params("a prompt is already running in this session")
        blocks = params.get("prompt")
        texts = [
            str(b.get("text", ""))
            for b in (blocks if isinstance(blocks, list) else [])
            if isinstance(b, dict) and b.get("type") == "text"
        ]
        # The message is the last block; earlier ones are context (aegis's preamble).
        message = texts[-1] if texts else ""
        rule, match = self._match(message)
        turn = session.turns + 1
        record: list[dict[str, Any]] = [{"role": "user", "text": message}]
        reply = ""
        with anyio.CancelScope() as scope:
            session.scope = scope
            try:
                output = ""
                for number, call in enumerate(rule.tool_calls if rule else (), start=1):
                    if match is not None:
                        # Placeholders in the input too: `{1}` of the match, the `{output}`
                        # of the call before, as in the reply.
                        call = call.model_copy(
                            update={
                                "input": _fill_values(
                                    call.input, match, message=message, output=output, turn=turn
                                )
                            }
                        )
                    run = await self._tool(session, call, f"call_{turn}_{number}", record)
                    output = run.output
                if rule is not None and rule.delay:
                    await anyio.sleep(rule.delay)
                if rule is not None and rule.error is not None:
                    raise JsonRpcError(INTERNAL_ERROR, rule.error)
                if rule is None or match is None:
                    reply = f"echo: {message}"
                else:
                    reply = _fill(rule.reply, match, message=message, output=output, turn=turn)
                for piece in _pieces(reply):
                    await self._update(session, _chunk("agent_message_chunk", piece))
            finally:
                session.scope = None
        if scope.cancelled_caught:
            return {"stopReason": "cancelled"}
        session.turns = turn
        if reply:
            record.append({"role": "assistant", "text": reply})
        await self._remember(session, record)
        inputs, outputs = _words(message), _words(reply)
        session.words += inputs + outputs
        update: dict[str, Any] = {
            "sessionUpdate": "usage_update",
            "used": session.words,
            "size": CONTEXT_SIZE,
        }
        if rule is not None and rule.cost_usd is not None:
            session.cost = (session.cost or 0.0) + rule.cost_usd
        if session.cost is not None:
            update["cost"] = {"amount": session.cost, "currency": "USD"}
        await self._update(session, update)
        return {
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": inputs,
                "outputTokens": outputs,
                "totalTokens": inputs + outputs,
            },
        }

    def _match(self, message: str) -> tuple[ScriptRule | None, re.Match[str] | None]:
        for rule in self.rules:
            found = re.search(rule.match, message)
            if found is not None:
                return rule, found
        return None, None

    async def _remember(self, session: _Session, entries: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
        await anyio.to_thread.run_sync(_append_history, session.history_file, lines)

    async def _update(self, session: _Session, update: dict[str, Any]) -> None:
        assert self.connection is not None
        await self.connection.notify("session/update", {"sessionId": session.id, "update": update})

    # --- tools --------------------------------------------------------------------------

    async def _tool(
        self, session: _Session, call: ScriptedToolCall, call_id: str, record: list[dict[str, Any]]
    ) -> _ToolRun:
        name = call.tool
        kind = "other" if name.startswith("mcp:") else _KINDS.get(name, "other")
        title = _title(call)
        paths = [str(_resolve(session.cwd, call.input["path"]))] if "path" in call.input else []
        announce = {
            "sessionUpdate": "tool_call",
            "toolCallId": call_id,
            "title": title,
            "kind": kind,
            "status": "pending",
            "rawInput": call.input,
            "locations": [{"path": p} for p in paths] or [{"path": str(session.cwd)}],
            "_meta": {"toolName": name},
        }
        await self._update(session, announce)
        if self.permission is not Permission.auto and kind in _ASKS_FOR:
            allowed = await self._ask(session, announce)
        else:
            allowed = True
        if not allowed:
            run = _ToolRun(False, f"the client refused the {kind} tool {name}")
        else:
            await self._update(
                session,
                {
                    "sessionUpdate": "tool_call_update",
                    "toolCallId": call_id,
                    "status": "in_progress",
                },
            )
            run = await self._run(session, call)
        await self._update(
            session,
            {
                "sessionUpdate": "tool_call_update",
                "toolCallId": call_id,
                "status": "completed" if run.ok else "failed",
                "content": [_text_content(run.output)],
                "rawOutput": {"output": run.output, **run.raw},
            },
        )
        record.append(
            {
                "role": "tool",
                "id": call_id,
                "name": name,
                "title": title,
                "kind": kind,
                "input": call.input,
                "ok": run.ok,
                "output": run.output,
            }
        )
        return run

    async def _ask(self, session: _Session, tool_call: dict[str, Any]) -> bool:
        assert self.connection is not None
        options = [
            {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
            {"optionId": "allow-always", "name": "Always allow", "kind": "allow_always"},
            {"optionId": "reject", "name": "Reject", "kind": "reject_once"},
        ]
        request = {k: v for k, v in tool_call.items() if k != "sessionUpdate"}
        answer = await self.connection.request(
            "session/request_permission",
            {"sessionId": session.id, "toolCall": request, "options": options},
        )
        outcome = answer.get("outcome") if isinstance(answer, dict) else None
        if not isinstance(outcome, dict) or outcome.get("outcome") != "selected":
            return False
        return outcome.get("optionId") in ("allow", "allow-always")

    async def _run(self, session: _Session, call: ScriptedToolCall) -> _ToolRun:
        try:
            if call.tool == "bash":
                return await self._bash(session.cwd, str(call.input.get("command", "")))
            if call.tool == "read_file":
                return await self._read_file(session, str(call.input.get("path", "")))
            if call.tool == "write_file":
                return await self._write_file(
                    session, str(call.input.get("path", "")), str(call.input.get("content", ""))
                )
            if call.tool.startswith("mcp:"):
                return await self._mcp(session, call.tool[4:], call.input)
        except JsonRpcError as exc:
            return _ToolRun(False, exc.message)
        except OSError as exc:
            return _ToolRun(False, f"{call.tool} failed: {exc}")
        return _ToolRun(False, f"unknown tool {call.tool!r}")

    async def _bash(self, cwd: Path, command: str) -> _ToolRun:
        process = await anyio.open_process(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own group, so that a cancel kills whatever the command started too.
            start_new_session=True,
        )
        output = bytearray()
        try:
            assert process.stdout is not None
            async for chunk in process.stdout:
                if len(output) < MAX_OUTPUT:
                    output += chunk[: MAX_OUTPUT - len(output)]
            code = await process.wait()
        finally:
            if process.returncode is None:
                kill_group(process.pid, signal.SIGKILL)
                with anyio.CancelScope(shield=True):
                    await process.wait()
            await process.aclose()
        if _group_alive(process.pid):
            # Something the command started in the background lives on; it goes with us.
            self.tool_groups.add(process.pid)
        text = output.decode("utf-8", "replace")
        return _ToolRun(code == 0, text, {"exitCode": code})

    def _fs(self, capability: str) -> bool:
        fs = self.client_capabilities.get("fs")
        return isinstance(fs, dict) and fs.get(capability) is True

    async def _read_file(self, session: _Session, path: str) -> _ToolRun:
        target = _resolve(session.cwd, path)
        if self._fs("readTextFile"):
            assert self.connection is not None
            result = await self.connection.request(
                "fs/read_text_file", {"sessionId": session.id, "path": str(target)}
            )
            return _ToolRun(
                True, str(result.get("content", "")) if isinstance(result, dict) else ""
            )
        _inside(session.cwd, target)
        return _ToolRun(True, await anyio.Path(target).read_text(encoding="utf-8"))

    async def _write_file(self, session: _Session, path: str, content: str) -> _ToolRun:
        target = _resolve(session.cwd, path)
        if self._fs("writeTextFile"):
            assert self.connection is not None
            await self.connection.request(
                "fs/write_text_file",
                {"sessionId": session.id, "path": str(target), "content": content},
            )
        else:
            _inside(session.cwd, target)
            await anyio.Path(target).write_text(content, encoding="utf-8")
        return _ToolRun(True, f"wrote {len(content)} characters to {path}")

    async def _mcp(self, session: _Session, target: str, arguments: dict[str, Any]) -> _ToolRun:
        server_name, _, tool = target.partition("/")
        server = next((s for s in session.mcp_servers if s.get("name") == server_name), None)
        if server is None or not tool:
            return _ToolRun(False, f"no MCP server {server_name!r} in this session")
        # Imported here: only the agent process needs the MCP SDK, and only for this.
        import httpx2
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        headers = {
            str(h.get("name")): str(h.get("value"))
            for h in server.get("headers") or []
            if isinstance(h, dict)
        }
        try:
            # The SDK takes headers through an httpx2 client of our own (its documented way).
            async with (
                httpx2.AsyncClient(headers=headers) as http,
                Client(streamable_http_client(str(server["url"]), http_client=http)) as client,
            ):
                result = await client.call_tool(tool, arguments)
        except Exception as exc:
            return _ToolRun(False, f"MCP call {target} failed: {_describe(exc)}")
        texts = [
            str(getattr(c, "text", "")) for c in result.content if getattr(c, "type", "") == "text"
        ]
        return _ToolRun(not result.is_error, "\n".join(texts))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _resolve(cwd: Path, path: str) -> Path:
    return Path(os.path.normpath(cwd / path))


def _inside(cwd: Path, target: Path) -> None:
    root, real = os.path.realpath(cwd), os.path.realpath(target)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise JsonRpcError(INVALID_PARAMS, f"{target} is outside the working directory {cwd}")


def _title(call: ScriptedToolCall) -> str:
    if call.tool == "bash":
        return str(call.input.get("command", "bash"))
    if "path" in call.input:
        return f"{call.tool} {call.input['path']}"
    return call.tool


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return str(exc) or type(exc).__name__


def _fill(template: str, match: re.Match[str], *, message: str, output: str, turn: int) -> str:
    def value(found: re.Match[str]) -> str:
        key = found.group(1)
        if key.isdigit():
            index = int(key)
            if index > (match.re.groups or 0):
                return found.group(0)
            return match.group(index) or ""
        # The output without its trailing newline, which would break a sentence.
        return {"message": message, "output": output.strip(), "turn": str(turn)}[key]

    return _PLACEHOLDER.sub(value, template)


def _fill_values(value: Any, match: re.Match[str], **context: Any) -> Any:
    """``value`` (a tool call's input) with the placeholders of every string in it filled."""
    if isinstance(value, str):
        return _fill(value, match, **context)
    if isinstance(value, dict):
        return {key: _fill_values(item, match, **context) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill_values(item, match, **context) for item in value]
    return value


def _pieces(text: str, count: int = 3) -> list[str]:
    """``text`` in up to ``count`` chunks, cut between words, as a model streams."""
    words = re.findall(r"\S+\s*|\s+", text)
    if len(words) <= 1:
        return [text] if text else []
    size = -(-len(words) // count)
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def _words(text: str) -> int:
    return len(text.split())


def _chunk(kind: str, text: str) -> dict[str, Any]:
    return {"sessionUpdate": kind, "content": {"type": "text", "text": text}}


def _text_content(text: str) -> dict[str, Any]:
    return {"type": "content", "content": {"type": "text", "text": text}}


def load_config(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The agent's configuration from its environment (see the module documentation)."""
    if environ.get(CONFIG_FILE_ENV):
        text = Path(environ[CONFIG_FILE_ENV]).read_text(encoding="utf-8")
    else:
        text = environ.get(CONFIG_ENV) or "{}"
    config = json.loads(text)
    return config if isinstance(config, dict) else {}


async def serve(agent: ScriptedAgent, stdin: int = 0, stdout: int = 1) -> None:
    """Serve ``agent`` on the file descriptors ``stdin`` and ``stdout`` until input ends."""
    connection = JsonRpcConnection(
        fd_writer(stdout),
        on_request=agent.on_request,
        on_notification=agent.on_notification,
        diagnostics=_StderrDiagnostics(),
        name="client",
    )
    agent.connection = connection
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_sigterm, tg.cancel_scope)
            await connection.serve(fd_lines(stdin))
            tg.cancel_scope.cancel()
    finally:
        agent.close()


async def _stop_on_sigterm(scope: CancelScope) -> None:
    # Cancelling runs every tool's clean-up (killing its process group) before exit.
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return


def main() -> None:
    """Entry point of ``python -m aegis.builtins.scripted_agent``."""
    config = load_config()
    rules = [ScriptRule.model_validate(rule) for rule in config.get("rules", [])]
    state = os.environ.get(STATE_ENV)
    agent = ScriptedAgent(
        rules,
        permission=Permission(config.get("permission", "auto")),
        model=str(config.get("model") or "scripted"),
        state_dir=Path(state) if state else None,
    )
    anyio.run(serve, agent)


def _create_history(path: Path) -> None:
    """Create a session's history file (owner-only: it holds the conversation)."""
    private_dir(path.parent)
    os.close(open_private(path))


def _append_history(path: Path, lines: str) -> None:
    private_dir(path.parent)
    fd = open_private(path)
    try:
        os.write(fd, lines.encode())
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
