"""Minimal hand-written clients for each CLI's structured protocol.

They exist to prove the fake model against the real CLIs without any aegis code, and to
serve as the baseline in benchmarks: the same turn driven by the smallest possible script
speaking the CLI's protocol. Each runs its CLI in its own process group so that
``close()`` can kill everything it spawned (shells, MCP servers) at once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .clis import GEMINI_MODEL, CliName, cli_env

JSON = dict[str, Any]

_EOF = object()


def kill_process_group(proc: subprocess.Popen[bytes], grace: float = 2.0) -> None:
    """SIGTERM the process group of ``proc``, then SIGKILL it if it lingers.

    ``proc`` must have been started with ``start_new_session=True``, so its pid is its
    group id and nothing outside its group is touched.
    """
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its children may not be. Make sure of them too.
        if sig is signal.SIGTERM:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        break


class _JsonLineProcess:
    """A child process exchanging JSON lines on stdio, read by a background thread."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        self.lines: queue.Queue[Any] = queue.Queue()
        self.stderr = bytearray()
        # Both pipes must be drained continuously or a chatty CLI blocks on a full pipe.
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                # Not protocol: some CLIs print banners or warnings on stdout.
                self.lines.put({"_non_json": raw.decode(errors="replace")})
        self.lines.put(_EOF)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.stderr += raw

    def write(self, message: Mapping[str, Any]) -> None:
        """Send one JSON line."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def next_line(self, deadline: float) -> JSON:
        """The next JSON line, waiting until ``deadline`` (a ``time.monotonic()`` value)."""
        try:
            item = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"no output from the CLI in time; stderr: {self.tail()}") from None
        if item is _EOF:
            self.lines.put(_EOF)  # Keep reporting the end to later readers.
            raise EOFError(f"CLI exited ({self.proc.poll()}); stderr: {self.tail()}")
        return dict(item)

    def tail(self, size: int = 2000) -> str:
        """The end of what the CLI wrote on stderr, for error messages."""
        return self.stderr[-size:].decode(errors="replace")

    def close(self) -> None:
        """Close stdin and kill the process group."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        kill_process_group(self.proc)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- claude: stream-json on stdio ---------------------------------------------------------

CLAUDE_ARGS = ("-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose")


@dataclass
class ClaudeTurn:
    """Everything claude printed for one turn, ending with its ``result`` line."""

    messages: list[JSON]
    result: JSON

    @property
    def text(self) -> str:
        """The turn's final text (``result.result``)."""
        return str(self.result.get("result", ""))


class ClaudeStreamJson(_JsonLineProcess):
    """``claude -p`` speaking stream-json: one user line in, JSON lines out to ``result``."""

    def __init__(
        self, executable: Path, env: Mapping[str, str], cwd: Path, extra_args: Sequence[str] = ()
    ) -> None:
        super().__init__([str(executable), *CLAUDE_ARGS, *extra_args], env, cwd)
        self._ids = itertools.count(1)

    def send(self, text: str) -> None:
        """Send a user message (the turn starts at once)."""
        self.write({"type": "user", "message": {"role": "user", "content": text}})

    def control(self, subtype: str, timeout: float = 10.0, **fields: Any) -> JSON:
        """Send a control request and return its ``control_response``'s ``response``.

        Lines that arrive meanwhile are lost; use it between turns (``initialize``) or
        when the turn's output does not matter.
        """
        request_id = f"req_{next(self._ids)}"
        self.write(
            {
                "type": "control_request",
                "request_id": request_id,
                "request": {"subtype": subtype, **fields},
            }
        )
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(deadline)
            response = line.get("response") or {}
            if line.get("type") == "control_response" and response.get("request_id") == request_id:
                return dict(response)

    def read_turn(self, timeout: float = 30.0) -> ClaudeTurn:
        """Read lines up to and including the turn's ``result``."""
        deadline = time.monotonic() + timeout
        messages: list[JSON] = []
        while True:
            line = self.next_line(deadline)
            messages.append(line)
            if line.get("type") == "result":
                return ClaudeTurn(messages, line)

    def turn(self, text: str, timeout: float = 30.0) -> ClaudeTurn:
        """Send ``text`` and read the turn to its result."""
        self.send(text)
        return self.read_turn(timeout)


# -- gemini and opencode: ACP (JSON-RPC 2.0 over newline-delimited stdio) ------------------

AgentRequestHandler = Callable[[str, JSON], JSON]
"""Answers a request from the agent: ``(method, params) -> result``."""


def allow_permission(method: str, params: JSON) -> JSON:
    """Default agent-request handler: approve permission requests, refuse the rest."""
    if method == "session/request_permission":
        options = params.get("options") or []
        # Prefer a one-off approval; the option ids differ per CLI
        # (gemini: proceed_once, opencode: once), their kinds do not.
        for kind in ("allow_once", "allow_always"):
            for option in options:
                if option.get("kind") == kind:
                    return {"outcome": {"outcome": "selected", "optionId": option["optionId"]}}
        return {"outcome": {"outcome": "cancelled"}}
    raise LookupError(method)


class AcpError(RuntimeError):
    """A JSON-RPC error answer from the agent."""

    def __init__(self, error: JSON) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')} {error.get('data', '')}")
        self.error = error


@dataclass
class PromptResult:
    """The outcome of one ``session/prompt``: its stop reason and the updates it streamed."""

    stop_reason: str
    updates: list[JSON] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The agent's message text, concatenated from ``agent_message_chunk`` updates."""
        return "".join(
            str(u.get("content", {}).get("text", ""))
            for u in self.updates
            if u.get("sessionUpdate") == "agent_message_chunk"
        )

    def of_kind(self, kind: str) -> list[JSON]:
        """The updates whose ``sessionUpdate`` is ``kind``."""
        return [u for u in self.updates if u.get("sessionUpdate") == kind]


class AcpClient(_JsonLineProcess):
    """A minimal ACP client: requests out, responses and notifications in.

    Not thread-safe: one caller waits for one response at a time; notifications that
    arrive meanwhile are kept in ``notifications``.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        on_request: AgentRequestHandler = allow_permission,
    ) -> None:
        super().__init__(argv, env, cwd)
        self._ids = itertools.count(1)
        self.on_request = on_request
        self.notifications: list[JSON] = []
        self.agent_requests: list[JSON] = []

    def notify(self, method: str, params: JSON) -> None:
        """Send a notification (no answer expected), e.g. ``session/cancel``."""
        self.write({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: JSON, timeout: float = 30.0) -> JSON:
        """Send a request and wait for its result, serving the agent's requests meanwhile."""
        request_id = next(self._ids)
        self.write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(deadline)
            if "method" in line and "id" in line:
                self._answer(line)
            elif "method" in line:
                self.notifications.append(line)
            elif line.get("id") == request_id:
                if "error" in line:
                    raise AcpError(line["error"])
                return dict(line.get("result") or {})

    def _answer(self, line: JSON) -> None:
        self.agent_requests.append(line)
        try:
            result = self.on_request(str(line["method"]), dict(line.get("params") or {}))
        except LookupError:
            self.write(
                {
                    "jsonrpc": "2.0",
                    "id": line["id"],
                    "error": {"code": -32601, "message": f"not supported: {line['method']}"},
                }
            )
            return
        self.write({"jsonrpc": "2.0", "id": line["id"], "result": result})

    def initialize(self, timeout: float = 30.0) -> JSON:
        """``initialize`` with protocol version 1 and no file-system or terminal offers."""
        return self.request(
            "initialize",
            {
                "protocolVersion": 1,
                "clientCapabilities": {
                    "fs": {"readTextFile": False, "writeTextFile": False},
                    "terminal": False,
                },
                "clientInfo": {"name": "aegis-rawclient", "version": "0"},
            },
            timeout,
        )

    def new_session(
        self, cwd: Path, mcp_servers: Sequence[JSON] = (), timeout: float = 30.0
    ) -> str:
        """``session/new``; returns the session id."""
        result = self.request(
            "session/new", {"cwd": str(cwd), "mcpServers": list(mcp_servers)}, timeout
        )
        return str(result["sessionId"])

    def prompt(self, session_id: str, text: str, timeout: float = 60.0) -> PromptResult:
        """``session/prompt`` with one text block; collects this prompt's session updates."""
        first = len(self.notifications)
        result = self.request(
            "session/prompt",
            {
                "sessionId": session_id,
                "prompt": [{"type": "text", "text": text}],
            },
            timeout,
        )
        updates = [
            dict(n["params"]["update"])
            for n in self.notifications[first:]
            if n.get("method") == "session/update" and n["params"].get("sessionId") == session_id
        ]
        return PromptResult(str(result.get("stopReason")), updates)


def gemini_acp(
    executable: Path,
    env: Mapping[str, str],
    cwd: Path,
    model: str,
    approval_mode: str = "yolo",
    extra_args: Sequence[str] = (),
) -> AcpClient:
    """Start ``gemini --acp`` (not yet initialised)."""
    argv = [
        str(executable),
        "--acp",
        "-m",
        model,
        "--skip-trust",
        "--approval-mode",
        approval_mode,
        *extra_args,
    ]
    return AcpClient(argv, env, cwd)


def opencode_acp(
    executable: Path, env: Mapping[str, str], cwd: Path, extra_args: Sequence[str] = ()
) -> AcpClient:
    """Start ``opencode acp --cwd CWD`` (not yet initialised)."""
    return AcpClient([str(executable), "acp", "--cwd", str(cwd), *extra_args], env, cwd)


# -- one interface over the three, for tests and benchmarks --------------------------------


@dataclass
class RawTurn:
    """One turn as any raw client saw it."""

    text: str
    """The agent's final text for the turn."""
    stop_reason: str
    events: list[JSON]
    """claude: every stdout line of the turn; ACP: the turn's ``session/update`` payloads."""


class RawSession:
    """A started CLI with one open session, driven turn by turn by a raw client."""

    name: str
    """The CLI's name (a ``CliName``), or ``"scripted"`` for aegis's offline agent."""

    def turn(self, text: str, timeout: float = 60.0) -> RawTurn:
        """Send one user message and wait for the end of the turn."""
        raise NotImplementedError

    def close(self) -> None:
        """Kill the CLI and everything it started."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ClaudeRawSession(RawSession):
    """claude over stream-json, with permissions bypassed (as in CI: needs ``IS_SANDBOX``)."""

    name: CliName = "claude"

    def __init__(self, executable: Path, env: Mapping[str, str], cwd: Path) -> None:
        self.client = ClaudeStreamJson(
            executable, env, cwd, ["--permission-mode", "bypassPermissions"]
        )
        try:
            # claude prints nothing before its first input; initialize doubles as a
            # readiness probe and makes start-up cost visible in benchmarks.
            self.client.control("initialize", timeout=30.0)
        except BaseException:
            self.client.close()
            raise

    def turn(self, text: str, timeout: float = 60.0) -> RawTurn:
        """Send one user message and wait for the end of the turn."""
        done = self.client.turn(text, timeout)
        return RawTurn(done.text, str(done.result.get("stop_reason")), done.messages)

    def close(self) -> None:
        """Kill the CLI and everything it started."""
        self.client.close()


class AcpRawSession(RawSession):
    """An ACP agent (gemini, opencode, the scripted agent): initialised, with one
    session open in ``cwd``."""

    def __init__(self, name: str, client: AcpClient, cwd: Path) -> None:
        self.name = name
        self.client = client
        try:
            self.client.initialize(timeout=60.0)
            self.session_id = self.client.new_session(cwd, timeout=60.0)
        except BaseException:
            self.client.close()
            raise

    def turn(self, text: str, timeout: float = 60.0) -> RawTurn:
        """Send one user message and wait for the end of the turn."""
        done = self.client.prompt(self.session_id, text, timeout)
        return RawTurn(done.text, done.stop_reason, done.updates)

    def close(self) -> None:
        """Kill the CLI and everything it started."""
        self.client.close()


def start_raw_session(name: CliName, tmp: Path, url: str) -> RawSession:
    """Start CLI ``name`` isolated under ``tmp`` against the fake model at ``url``.

    The session works in ``tmp/project`` with every tool call allowed.
    """
    executable, env, _ = cli_env(name, tmp, url)
    project = tmp / "project"
    project.mkdir(parents=True, exist_ok=True)
    if name == "claude":
        return ClaudeRawSession(executable, env, project)
    if name == "gemini":
        client = gemini_acp(executable, env, project, GEMINI_MODEL)
    else:
        client = opencode_acp(executable, env, project)
    return AcpRawSession(name, client, project)
