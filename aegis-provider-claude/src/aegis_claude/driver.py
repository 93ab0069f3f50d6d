"""``ClaudeDriver``: one long-lived ``claude -p`` stream-json process per session.

The protocol, as claude 2.1.331 speaks it (every point verified against the real CLI):

* claude prints nothing until its first stdin line. ``start`` sends a
  ``control_request`` ``initialize``; its ``control_response`` (commands, models,
  account; no tools, no session id) is the readiness probe.
* The conversation id is chosen up front: ``--session-id <new uuid4>`` for a new
  session, ``--resume <id>`` for an old one (claude keeps the id when resuming), so
  :attr:`harness_session_id` is known when ``start`` returns.
* Each user message carries a ``uuid``. claude then reports ``command_lifecycle``
  lines for it (``queued``, ``started``, then ``completed`` or ``cancelled`` after
  the result) and names it in the ``result`` (``user_message_uuid``). The driver
  attributes output to the turn by these, so a stray ``result`` or a turn claude
  starts on its own (a background task's notification) never ends or pollutes an
  aegis turn; such output between turns goes to the diagnostics.
* Permission prompts arrive as ``control_request`` ``can_use_tool`` and are
  answered by the session's permission gate (:mod:`aegis.approvals.gate`: the
  profile's approval rules, a person, the permission level), each in a task of its
  own: waiting for a person never holds up the reading of claude's output. A refusal's
  message (a person's reason) is what claude shows its model. A request claude
  withdraws (``control_cancel_request``), or one still open when the turn is
  interrupted, stops waiting.
* ``interrupt`` is a ``control_request``; claude acknowledges it at once, then ends
  the turn with a ``result`` of subtype ``error_during_execution``
  (``terminal_reason`` ``aborted_streaming``). Should that result not come, the turn
  is reported cancelled after :attr:`ClaudeDriver.interrupt_grace` seconds and its
  late output is dropped before the next turn starts.
* The MCP configuration (with the plane's bearer token) is read from an inherited
  pipe, ``--mcp-config=/dev/fd/N``: claude reads it once at start-up, and after that
  no file and no descriptor holds the token, for another process to read or for a
  ``kill -9`` to leave behind.

Spawning, start-up failures, exit watching and closing are
:class:`~aegis.driver.ProcessDriver`'s.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anyio

from aegis.approvals.gate import ToolPermission
from aegis.driver import ProcessDriver, SessionOptions
from aegis.errors import DriverError
from aegis.events import Error, Event, SessionStarted, StopReason, TurnEnd
from aegis.text import UnreadableJson, parse_json
from aegis_claude.argv import DEFAULT_ENV, build_arguments, check_root_bypass, mcp_config
from aegis_claude.config import ClaudeCode
from aegis_claude.tools import tool_kind, tool_paths, tool_title
from aegis_claude.translate import Translator

if TYPE_CHECKING:
    from aegis.provider import Provider

_TERMINAL_LIFECYCLE = frozenset({"completed", "cancelled", "failed"})

LEFTOVER_MCP_FILES = "aegis-mcp-*.json"
"""The temporary files earlier versions passed claude's MCP configuration in (0600, with
bearer tokens, deleted on close, so left behind by a ``kill -9``)."""

_swept = False


def sweep_leftover_mcp_files(folder: Path | None = None, min_age: float = 60.0) -> list[Path]:
    """Delete this user's :data:`LEFTOVER_MCP_FILES` from ``folder`` (the temp folder).

    Run once per process at the first claude start. Files younger than ``min_age``
    seconds are kept: an older aegis may be starting a session with one right now.
    Returns what was deleted.
    """
    folder = folder if folder is not None else Path(tempfile.gettempdir())
    removed: list[Path] = []
    now = time.time()
    for path in folder.glob(LEFTOVER_MCP_FILES):
        try:
            info = path.lstat()
            if info.st_uid != os.getuid() or not path.is_file() or now - info.st_mtime < min_age:
                continue
            path.unlink()
        except OSError:
            continue  # gone meanwhile, or not ours
        removed.append(path)
    return removed


class _ControlFailed(Exception):
    """A control request got an error response, or claude went away before answering."""


@dataclass(eq=False)
class _Pending:
    """A control request of ours waiting for claude's ``control_response``."""

    done: anyio.Event = field(default_factory=anyio.Event)
    response: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(eq=False)
class _Turn:
    """One aegis turn: the user message (by its uuid) and what became of it."""

    uuid: str
    started_at: float = field(default_factory=time.monotonic)
    sent: bool = False
    """The message was written to claude's stdin."""
    started: bool = False
    """claude began working on this message (its lifecycle said ``started``)."""
    interrupted: bool = False
    end: TurnEnd | None = None
    done: anyio.Event = field(default_factory=anyio.Event)

    def owns(self, result: Mapping[str, Any], lifecycle_seen: bool) -> bool:
        """Whether ``result`` ends this turn."""
        uuids = result.get("user_message_uuids")
        if isinstance(uuids, list) and uuids:
            return self.uuid in uuids
        named = result.get("user_message_uuid")
        if isinstance(named, str) and named:
            return named == self.uuid
        # A CLI that names no message: the result belongs to the running turn.
        return self.started or not lifecycle_seen


class ClaudeDriver(ProcessDriver[ClaudeCode]):
    """Drives one ``claude -p --input-format stream-json`` process (see the module doc)."""

    start_timeout: ClassVar[float] = 60.0
    """Seconds to wait for claude to answer ``initialize``."""
    control_timeout: ClassVar[float] = 10.0
    """Seconds to wait for the answer to any other control request."""
    interrupt_grace: ClassVar[float] = 5.0
    """Seconds after an interrupt before the turn is reported cancelled without claude."""
    settle_timeout: ClassVar[float] = 30.0
    """Seconds the next turn waits for claude to end such an abandoned turn (else the
    session fails: turns could no longer be told apart)."""

    def __init__(
        self, provider: Provider[ClaudeCode], config: ClaudeCode, options: SessionOptions
    ) -> None:
        super().__init__(provider, config, options)
        self.session_uuid = options.resume or str(uuid.uuid4())
        """The conversation's id, chosen up front (``--session-id``) or resumed."""
        self.model: str | None = None
        """The model claude runs (as resolved at start, then as reported by each turn)."""
        self._translator = Translator()
        self._write_lock = anyio.Lock()
        self._pending: dict[str, _Pending] = {}
        self._turn: _Turn | None = None
        self._orphan: _Turn | None = None
        self._orphan_done = anyio.Event()
        self._finished_uuids: set[str] = set()
        self._lifecycle_seen = False
        self._request_ids = 0
        self._mcp_path: str | None = None
        self._deciding: dict[str, anyio.CancelScope] = {}

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools claude offers the model, once a turn has reported them.

        claude announces them in the ``system``/``init`` line of each turn, not in its
        ``initialize`` response, so this is empty until the first turn begins.
        """
        return self._translator.tools

    # --- the process ------------------------------------------------------------------

    def arguments(self) -> list[str]:
        return build_arguments(
            self.config,
            self.options,
            session_id=self.session_uuid,
            mcp_config_path=self._mcp_path,
        )

    def default_environment(self) -> dict[str, str]:
        return dict(DEFAULT_ENV)

    async def start(self) -> SessionStarted:
        """Spawn claude, wait until it answers ``initialize``, emit ``SessionStarted``."""
        check_root_bypass(self.config, self.environment())
        global _swept
        if not _swept:
            _swept = True
            for path in await anyio.to_thread.run_sync(sweep_leftover_mcp_files):
                self._note(f"aegis: deleted {path}, an MCP configuration left behind")
        if self.options.mcp_servers and self._mcp_path is None:
            # Through an inherited pipe, neither on the command line (`ps` shows it to
            # everyone) nor in a file (readable by every process of the user, and left
            # behind by kill -9): the servers' headers carry bearer tokens.
            self._mcp_path = self.inherit_text(mcp_config(self.options.mcp_servers))
        await self.spawn()
        try:
            response = await self._control({"subtype": "initialize"}, self.start_timeout)
        except _ControlFailed as exc:
            raise await self.startup_failure("initialize", str(exc)) from None
        self.harness_session_id = self.session_uuid
        self.model = _resolve_model(self.config.model, response.get("models"))
        started = SessionStarted(
            harness_session_id=self.session_uuid,
            model=self.model,
            tools=self.tools,
            resumed=self.options.resume is not None,
        )
        self._emit(started)
        return started

    # --- turns ------------------------------------------------------------------------

    async def prompt(self, text: str) -> TurnEnd:
        """Send ``text`` as a user message and wait for the turn's end."""
        if self.process is None or self.harness_session_id is None:
            raise DriverError("start() the session before prompting it")
        if self._turn is not None:
            raise DriverError("a turn is already in progress on this session")
        if self.failed is None and self._orphan is not None:
            await self._settle_orphan()
        if self.failed is not None:
            end = TurnEnd(StopReason.error, error=self.failed)
            self._emit(end)
            return end
        turn = _Turn(uuid=str(uuid.uuid4()))
        self._turn = turn
        self._translator.begin_turn()
        message = {
            "type": "user",
            "uuid": turn.uuid,
            "session_id": self.harness_session_id,
            "parent_tool_use_id": None,
            "message": {"role": "user", "content": text},
        }
        try:
            await self._send(message)
            turn.sent = True
            await turn.done.wait()
        except DriverError as exc:
            self._fail_turn(turn, f"cannot send to claude: {exc}")
        except BaseException:
            # The caller gave up on this turn (cancelled): stop claude's work on it and
            # keep its late output away from the next turn.
            if not turn.sent:
                self._turn = None
            elif not turn.done.is_set():
                self._abandon(turn)
                with anyio.CancelScope(shield=True), anyio.move_on_after(self.control_timeout):
                    await self._interrupt_turn(turn)
            raise
        assert turn.end is not None
        return turn.end

    async def interrupt(self) -> None:
        """Ask claude to stop the running turn; its ``prompt`` returns cancelled."""
        turn = self._turn
        if turn is None or turn.done.is_set():
            return
        await self._interrupt_turn(turn)

    async def _interrupt_turn(self, turn: _Turn) -> None:
        # Permission requests still waiting for a person are refused: the turn stops.
        for scope in list(self._deciding.values()):
            scope.cancel()
        first = not turn.interrupted
        turn.interrupted = True
        self._translator.interrupted = True
        if first:
            self.watch_interrupt(turn.done, lambda: self._interrupt_overdue(turn))
        try:
            await self._control({"subtype": "interrupt"}, self.control_timeout)
        except _ControlFailed as exc:
            self._note(f"aegis: claude did not acknowledge the interrupt: {exc}")

    def _interrupt_overdue(self, turn: _Turn) -> None:
        self._note("aegis: claude did not end an interrupted turn; reporting it cancelled")
        self._abandon(turn)

    def _abandon(self, turn: _Turn) -> None:
        """End ``turn`` as cancelled now; drop what claude still says of it.

        The next turn starts only once claude's result for this one has come (see
        :meth:`_settle_orphan`), so none of its late output can leak into it.
        """
        turn.interrupted = True
        self._translator.interrupted = True
        self._orphan, self._orphan_done = turn, anyio.Event()
        self._finish_turn(
            turn,
            TurnEnd(
                StopReason.cancelled,
                self._translator.turn_text,
                time.monotonic() - turn.started_at,
            ),
        )

    async def _settle_orphan(self) -> None:
        with anyio.move_on_after(self.settle_timeout):
            await self._orphan_done.wait()
        if self._orphan is not None:
            self._fail("claude did not finish an interrupted turn; the session cannot go on")

    def _finish_turn(self, turn: _Turn, end: TurnEnd) -> None:
        if turn.done.is_set():
            return
        turn.end = end
        self._finished_uuids.add(turn.uuid)
        if self._turn is turn:
            self._turn = None
        self._emit(end)
        turn.done.set()

    def _fail_turn(self, turn: _Turn, message: str) -> None:
        """End ``turn`` with a fatal error (once), and the session with it."""
        if turn.done.is_set():
            return
        self._fail(message)
        self._finish_turn(
            turn,
            TurnEnd(
                StopReason.error,
                self._translator.turn_text,
                time.monotonic() - turn.started_at,
                error=message,
            ),
        )

    def _fail(self, message: str) -> None:
        if self.failed is None:
            self.failed = message
            self._emit(Error(message, fatal=True, code="harness_failed"))

    # --- reading claude ---------------------------------------------------------------

    async def read_output(self, lines: AsyncIterator[bytes]) -> None:
        async for raw in lines:
            message = _decode(raw)
            if message is None:
                if raw.strip():
                    self._note(f"aegis: claude printed a non-JSON line: {_preview(raw)}")
                continue
            await self._dispatch(message)

    async def _dispatch(self, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        if kind == "control_response":
            self._resolve(message.get("response"))
        elif kind == "control_request":
            await self._answer(message)
        elif kind == "control_cancel_request":
            request_id = str(message.get("request_id"))
            self._note(f"claude withdrew control request {request_id!r}")
            scope = self._deciding.get(request_id)
            if scope is not None:
                scope.cancel()
        elif kind == "command_lifecycle":
            self._lifecycle(message)
        else:
            self._route(message)

    def _route(self, message: Mapping[str, Any]) -> None:
        """Give ``message`` to the turn it belongs to, or note it as between turns."""
        turn = self._turn
        if message.get("type") == "result":
            if turn is not None and turn.owns(message, self._lifecycle_seen):
                self._end_turn_with(turn, message)
            elif self._orphan is not None and self._orphan.owns(message, self._lifecycle_seen):
                self._orphan = None
                self._orphan_done.set()
                self._note("aegis: dropped the late result of an interrupted turn")
            else:
                self._note(f"claude: a result outside any aegis turn: {_preview_json(message)}")
            return
        if turn is not None and (turn.started or not self._lifecycle_seen):
            self._emit_all(self._translator.feed(message))
            return
        if message.get("type") == "system" and message.get("subtype") == "init":
            # Keep the tool list and model current even for turns claude runs itself.
            self._translator.feed(message)
        if self._orphan is None:
            self._note(f"claude (between turns): {_preview_json(message)}")

    def _end_turn_with(self, turn: _Turn, result: Mapping[str, Any]) -> None:
        end: TurnEnd | None = None
        for event in self._translator.feed(result):
            if isinstance(event, TurnEnd):
                end = event
            elif isinstance(event, Error) and event.fatal:
                if self.failed is None:
                    self.failed = event.message
                self._emit(event)
            else:
                self._emit(event)
        self._drain_notes()
        if self._translator.model:
            self.model = self._translator.model
        if end is not None:
            self._finish_turn(turn, end)

    def _lifecycle(self, message: Mapping[str, Any]) -> None:
        self._lifecycle_seen = True
        command = message.get("command_uuid")
        state = message.get("state")
        turn = self._turn
        if turn is None or command != turn.uuid:
            if command not in self._finished_uuids and (
                self._orphan is None or command != self._orphan.uuid
            ):
                self._note(f"claude: message {command} is {state}")
            return
        if state == "started":
            turn.started = True
        elif state in _TERMINAL_LIFECYCLE:
            # Normally after the result; alone, it means claude dropped the message
            # (an interrupt that caught it still queued).
            cancelled = turn.interrupted or state != "completed"
            self._finish_turn(
                turn,
                TurnEnd(
                    StopReason.cancelled if cancelled else StopReason.end_turn,
                    self._translator.turn_text,
                    time.monotonic() - turn.started_at,
                ),
            )

    async def on_exit(self, report: str) -> None:
        for pending in self._pending.values():
            pending.error = "claude exited"
            pending.done.set()
        if self.closing:
            return
        if self._turn is not None:
            self._fail_turn(self._turn, report)
        elif self.harness_session_id is not None:
            self._fail(report)
        if self._orphan is not None:
            self._orphan_done.set()

    # --- control requests -------------------------------------------------------------

    async def _control(self, request: Mapping[str, Any], timeout: float) -> Mapping[str, Any]:
        """Send a control request and return claude's response to it."""
        self._request_ids += 1
        request_id = f"aegis-{self._request_ids}"
        pending = _Pending()
        self._pending[request_id] = pending
        try:
            if self.exited.is_set():
                raise _ControlFailed("claude is not running")
            try:
                await self._send(
                    {"type": "control_request", "request_id": request_id, "request": request}
                )
            except DriverError as exc:
                raise _ControlFailed(str(exc)) from None
            with anyio.move_on_after(timeout):
                await pending.done.wait()
            if not pending.done.is_set():
                raise _ControlFailed(f"no answer to {request.get('subtype')} in {timeout:g} s")
            if pending.error is not None:
                raise _ControlFailed(pending.error)
            return pending.response or {}
        finally:
            self._pending.pop(request_id, None)

    def _resolve(self, response: Any) -> None:
        if not isinstance(response, Mapping):
            return
        pending = self._pending.get(str(response.get("request_id")))
        if pending is None:
            return
        if response.get("subtype") == "success":
            inner = response.get("response")
            pending.response = inner if isinstance(inner, Mapping) else {}
        else:
            pending.error = str(response.get("error") or "claude refused the request")
        pending.done.set()

    async def _answer(self, message: Mapping[str, Any]) -> None:
        request_id = message.get("request_id")
        request = message.get("request")
        request = request if isinstance(request, Mapping) else {}
        if request.get("subtype") == "can_use_tool":
            # In a task of its own: the gate may wait for a person.
            self.task_group.start_soon(self._answer_permission, str(request_id), request)
            return
        # Hooks, elicitations, SDK MCP servers: nothing aegis registered. Say so at
        # once rather than leave claude waiting for an answer.
        subtype = request.get("subtype")
        self._note(f"claude asked for {subtype!r}, which aegis does not provide")
        reply: dict[str, Any] = {
            "subtype": "error",
            "request_id": request_id,
            "error": f"aegis does not handle {subtype!r} requests",
        }
        with contextlib.suppress(DriverError):  # claude is gone; the reader reports it
            await self._send({"type": "control_response", "response": reply})

    async def _answer_permission(self, request_id: str, request: Mapping[str, Any]) -> None:
        """Answer one ``can_use_tool`` request with the session's permission gate."""
        answer: dict[str, Any] = {"behavior": "deny", "message": "the turn was interrupted"}
        with anyio.CancelScope() as scope:
            self._deciding[request_id] = scope
            try:
                answer = await self._decide(request)
            finally:
                self._deciding.pop(request_id, None)
        if scope.cancelled_caught and not self.exited.is_set():
            self._note(f"aegis: permission request {request_id} ended unanswered")
        reply = {"subtype": "success", "request_id": request_id, "response": answer}
        with contextlib.suppress(DriverError):  # claude is gone; the reader reports it
            await self._send({"type": "control_response", "response": reply})

    async def _decide(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to a ``can_use_tool`` request, from the session's permission gate."""
        name = str(request.get("tool_name") or "")
        raw = request.get("input")
        tool_input = dict(raw) if isinstance(raw, Mapping) else {}
        kind = tool_kind(name)
        tool = ToolPermission(
            tool_call_id=str(request.get("tool_use_id") or ""),
            name=name,
            kind=kind,
            input=tool_input,
            paths=tool_paths(tool_input),
            title=tool_title(name, tool_input),
            options=("allow", "deny"),
        )
        verdict = await self.options.gate().decide(self.config.permission, tool)
        if verdict.allowed:
            return {"behavior": "allow", "updatedInput": tool_input}
        if not verdict.asked:
            self._note(f"aegis refused {name} ({kind.value}): {verdict.message}")
        return {"behavior": "deny", "message": verdict.message}

    # --- plumbing ---------------------------------------------------------------------

    async def _send(self, message: Mapping[str, Any]) -> None:
        if self.process is None:
            raise DriverError("claude is not running")
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode()
        async with self._write_lock:
            # Never half a line: a cancelled write would glue its rest to the next one.
            with anyio.CancelScope(shield=True):
                await self.process.write(data)

    def _emit(self, event: Event) -> None:
        self.options.emit(event)

    def _emit_all(self, events: list[Event]) -> None:
        for event in events:
            self._emit(event)
        self._drain_notes()

    def _drain_notes(self) -> None:
        notes = self._translator.notes
        while notes:
            self._note(notes.pop(0))

    def _note(self, line: str) -> None:
        self.options.diagnostics.add(line)


def _resolve_model(wanted: str | None, models: Any) -> str | None:
    """The model id claude will use: the ``initialize`` response lists its aliases."""
    target = wanted or "default"
    if isinstance(models, list):
        for entry in models:
            if isinstance(entry, Mapping) and entry.get("value") == target:
                resolved = entry.get("resolvedModel")
                if isinstance(resolved, str) and resolved:
                    return resolved
    return wanted


def _decode(raw: bytes) -> Mapping[str, Any] | None:
    # Invalid UTF-8 inside a line must not cost the whole message: replace the bytes.
    # parse_json also replaces lone surrogates and refuses a line nested too deeply.
    try:
        value = parse_json(raw.decode("utf-8", "replace"))
    except UnreadableJson:
        return None
    return value if isinstance(value, dict) else None


def _preview(raw: bytes, limit: int = 200) -> str:
    text = raw[: limit * 4].decode("utf-8", "replace")
    return text[:limit] + ("…" if len(raw) > limit else "")


def _preview_json(message: Mapping[str, Any], limit: int = 300) -> str:
    kind = message.get("type")
    subtype = message.get("subtype")
    label = f"{kind}/{subtype}" if subtype else str(kind)
    body = json.dumps(message, ensure_ascii=False, default=str)
    return f"{label} {body[:limit]}" + ("…" if len(body) > limit else "")
