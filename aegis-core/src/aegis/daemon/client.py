"""The typed async client of the daemon's protocol (v1), used by aegis's commands.

::

    client = DaemonClient(project.state_dir, name="cli:attach")
    handle = (await client.spawn("reviewer")).handle
    await client.send(handle, "Review the diff")
    async for item in client.events(handle, after=0):
        print(item.seq, item.event)

A client never hangs on a dead daemon: connecting fails at once (or after
``connect_timeout``) with :class:`DaemonNotRunning` when nothing listens, and every
request but an event stream has a timeout. Every reply is checked for the daemon's
protocol and aegis versions; a daemon of another version raises
:class:`DaemonVersionMismatch`, whose hint says to restart it.

Importing this module is cheap (no MCP SDK, no HTTP library beyond h11).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aegis import __version__
from aegis.daemon import http
from aegis.daemon.protocol import (
    API_PREFIX,
    CLIENT_HEADER,
    CONFIG_HEADER,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    VERSION_HEADER,
    socket_path,
)

if TYPE_CHECKING:
    from aegis.events import Event, PermissionAnswer
    from aegis.notify import Notification
    from aegis.questions import Question
    from aegis.workflow.records import RunRecord

LONG_POLL_S = 60.0
"""How long one request of :meth:`DaemonClient.wait_task` waits at most."""


class DaemonError(Exception):
    """A request to the daemon failed; ``hint`` says what to do, when something can be done."""

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class DaemonNotRunning(DaemonError):
    """No daemon listens on the project's socket (``stale``: a dead daemon left its file)."""

    def __init__(self, path: Path, *, stale: bool) -> None:
        super().__init__(
            f"no aegis daemon runs for this project ({'stale socket' if stale else 'no socket'} "
            f"{path})",
            hint="`aegis daemon start` starts one",
            code="not_running",
        )
        self.stale = stale


class DaemonVersionMismatch(DaemonError):
    """The daemon runs another aegis or protocol version than this client."""


@dataclass(frozen=True)
class SessionSummary:
    """A session as the daemon lists it."""

    handle: str
    profile: str
    provider: str
    state: str
    started_by: str
    started_at: float | None
    seq: int
    """The number of its last event so far."""
    model: str | None
    cost_usd: float | None
    queued: int
    error: str | None
    branch: str | None = None
    """The git branch of its worktree (``aegis/<handle>``), when it has one."""
    harness_session_id: str | None = None
    """The harness's own id of the conversation (what ``--resume`` takes)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionSummary:
        """The summary of a session as the protocol shows it."""
        return cls(
            handle=data["handle"],
            profile=data["profile"],
            provider=data["provider"],
            state=data["state"],
            started_by=data.get("started_by") or "aegis",
            started_at=data.get("started_at"),
            seq=data.get("seq", 0),
            model=data.get("model"),
            cost_usd=(data.get("usage") or {}).get("cost_usd"),
            queued=data.get("queued", 0),
            error=data.get("error"),
            branch=data.get("branch"),
            harness_session_id=data.get("harness_session_id"),
        )

    @property
    def live(self) -> bool:
        """Whether the session can still take messages."""
        return self.state in ("starting", "ready", "busy")


@dataclass(frozen=True)
class Numbered:
    """One event of a session with its number (``seq``) and time (``at``, epoch seconds)."""

    seq: int
    at: float
    event: Event


@dataclass(frozen=True)
class RunLine:
    """A log line of a workflow run (``stamp``: when, ISO 8601 in UTC)."""

    seq: int
    at: float
    stamp: str
    message: str


@dataclass(frozen=True)
class RunSession:
    """A session of a workflow run: one it spawned, or the worker of a task it delegated.

    Its events are its own stream: :meth:`DaemonClient.events` from 0 gives them all.
    """

    seq: int
    at: float
    handle: str


@dataclass(frozen=True)
class RunEnd:
    """Why a run's log ended (``run ended``, ``not run by this daemon`` for a run another
    process runs, ``daemon stopping``) and the run's record then."""

    reason: str
    run: RunRecord
    sessions: Mapping[str, int] = field(default_factory=dict)
    """The run's sessions that were live when it ended, with the number of each one's
    last event then: the events a client showing the run still needs."""


@dataclass(frozen=True)
class StreamEnd:
    """Why an event stream ended: ``session ended``, ``replayed`` or ``daemon stopping``."""

    reason: str


class DaemonClient:
    """Talks to the daemon of the project whose state folder is ``state_dir``.

    ``name`` shows in ``aegis daemon status`` among the attached clients.
    ``check_version=False`` (for ``aegis daemon stop`` and ``status``) lets a client
    talk to a daemon of another version.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        name: str = "client",
        connect_timeout: float = 5.0,
        timeout: float = 60.0,
        check_version: bool = True,
    ) -> None:
        self.socket = socket_path(state_dir)
        self.name = name
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.check_version = check_version
        self.started: dict[str, Any] | None = None
        """The status of the daemon, when :func:`~aegis.daemon.launch.connect` started it
        for this client (``None``: it was running)."""
        self._headers = {
            PROTOCOL_HEADER: str(PROTOCOL_VERSION),
            VERSION_HEADER: __version__,
            CLIENT_HEADER: name,
        }

    # --- plumbing ---------------------------------------------------------------------------

    def _check(self, status: int, headers: dict[str, str], body: Any) -> None:
        protocol = headers.get(PROTOCOL_HEADER.lower())
        version = headers.get(VERSION_HEADER.lower())
        if protocol is None and status >= 500:
            # Not an answer of the protocol: the daemon failed on this request.
            raise DaemonError(
                f"the daemon failed to answer (HTTP {status})",
                hint="`aegis daemon logs` shows why",
                code="daemon_failed",
            )
        if self.check_version and (protocol != str(PROTOCOL_VERSION) or version != __version__):
            raise DaemonVersionMismatch(
                f"the running daemon is aegis {version or '?'} (protocol {protocol or '?'}); "
                f"this is aegis {__version__} (protocol {PROTOCOL_VERSION})",
                hint="`aegis daemon restart` restarts it with this aegis (its sessions end)",
                code="version_mismatch",
            )
        if status >= 400:
            error = (body or {}).get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                raise DaemonError(
                    error.get("message") or f"HTTP {status}",
                    hint=error.get("hint"),
                    code=error.get("code"),
                )
            raise DaemonError(f"the daemon answered HTTP {status}")

    async def _call(
        self, method: str, target: str, data: Any = None, *, timeout: float | None = None
    ) -> Any:
        with self._transport_errors(method, target):
            reply = await http.request(
                self.socket,
                method,
                API_PREFIX + target,
                data=data,
                headers=self._headers,
                connect_timeout=self.connect_timeout,
                timeout=timeout or self.timeout,
            )
        return self._answer(reply)

    def _call_blocking(
        self, method: str, target: str, data: Any, headers: Mapping[str, str]
    ) -> Any:
        """:meth:`_call` without an event loop (see :func:`aegis.daemon.http.request_blocking`),
        with ``headers`` added to the request."""
        with self._transport_errors(method, target):
            reply = http.request_blocking(
                self.socket,
                method,
                API_PREFIX + target,
                data=data,
                headers={**self._headers, **headers},
                timeout=self.timeout,
            )
        return self._answer(reply)

    @contextmanager
    def _transport_errors(self, method: str, target: str) -> Iterator[None]:
        """Turn a failure to reach the daemon or to get its answer into a :class:`DaemonError`."""
        try:
            yield
        except http.NotListening as exc:
            raise DaemonNotRunning(exc.path, stale=not exc.missing) from None
        except TimeoutError:
            raise DaemonError(
                f"the daemon did not answer {method} {target} in time",
                hint="`aegis daemon logs` shows what it does",
                code="timeout",
            ) from None
        except ConnectionError as exc:
            raise DaemonError(
                f"the daemon closed the connection without answering {method} {target}",
                hint="`aegis daemon logs` shows what it does",
                code="connection_lost",
            ) from exc

    def _answer(self, reply: http.Reply) -> Any:
        """The JSON body of ``reply``, once checked (:meth:`_check`)."""
        try:
            body = reply.json()
        except ValueError:
            body = None
        self._check(reply.status, reply.headers, body)
        return body

    # --- the daemon -------------------------------------------------------------------------

    async def status(self, *, timeout: float | None = None) -> dict[str, Any]:
        """The daemon's status: versions, pid, uptime, sessions, tasks, attached clients."""
        result: dict[str, Any] = await self._call("GET", "/status", timeout=timeout)
        return result

    async def stop(self) -> int:
        """Ask the daemon to stop; returns its pid (it stops shortly after)."""
        result = await self._call("POST", "/daemon/stop")
        return int(result["pid"])

    # --- sessions ---------------------------------------------------------------------------

    async def sessions(self) -> list[SessionSummary]:
        """Every session of the daemon (live and ended), in spawn order."""
        result = await self._call("GET", "/sessions")
        return [SessionSummary.from_json(item) for item in result["sessions"]]

    async def watch_sessions(self) -> AsyncIterator[SessionSummary | StreamEnd]:
        """Every session of the daemon now, then each session again whenever one is
        spawned or changes state, until the daemon stops (a last :class:`StreamEnd`).
        The stream counts as an attached client."""
        async for kind, record in self._stream("/sessions?follow=true"):
            if kind == "end":
                yield StreamEnd(record.get("reason", ""))
                return
            if record.get("type") == "session":
                yield SessionSummary.from_json(record["session"])

    async def session(self, handle: str) -> SessionSummary:
        """Session ``handle``."""
        return SessionSummary.from_json(await self._call("GET", f"/sessions/{quote(handle)}"))

    async def spawn(
        self,
        profile: str | None = None,
        handle: str | None = None,
        *,
        wait: bool = True,
        resume: str | None = None,
        started_by: str = "user",
        timeout: float = 300.0,
    ) -> SessionSummary:
        """Start a session of agent ``profile`` (default: the project's default agent).

        ``resume``: the harness's id of an earlier conversation to go on with (``handle``
        may then be the earlier session's). With ``wait``, returns once it is ready (a
        :class:`DaemonError` with code ``session_failed`` if it could not start).
        """
        data = _spawn_body(profile, handle, wait=wait, resume=resume, started_by=started_by)
        return SessionSummary.from_json(
            await self._call("POST", "/sessions", data, timeout=timeout)
        )

    def spawn_blocking(
        self,
        profile: str | None,
        *,
        started_by: str,
        config_digest: str,
        resume: str | None = None,
    ) -> SessionSummary:
        """:meth:`spawn` (not waiting for the session to be ready), blocking, in a daemon
        running the ``.aegis.py`` whose :func:`~aegis.daemon.protocol.config_digest` is
        ``config_digest`` only (else :class:`DaemonError` ``config_changed``: nothing is
        started). A command's first request, as :meth:`run_workflow_blocking` is."""
        data = _spawn_body(profile, None, wait=False, resume=resume, started_by=started_by)
        result = self._call_blocking("POST", "/sessions", data, {CONFIG_HEADER: config_digest})
        return SessionSummary.from_json(result)

    async def close(self, handle: str) -> SessionSummary:
        """End session ``handle`` and stop its agent."""
        result = await self._call("POST", f"/sessions/{quote(handle)}/close")
        return SessionSummary.from_json(result)

    async def interrupt(self, handle: str) -> None:
        """Stop the turn ``handle`` is running, if any."""
        await self._call("POST", f"/sessions/{quote(handle)}/interrupt")

    async def send(self, handle: str, text: str, *, sender: str = "user") -> None:
        """Put ``text`` in the inbox of ``handle`` (``sender``: ``user`` or ``client:<name>``)."""
        await self._call(
            "POST", f"/sessions/{quote(handle)}/messages", {"text": text, "sender": sender}
        )

    async def events(
        self, handle: str, after: int = 0, *, follow: bool = True
    ) -> AsyncGenerator[Numbered | StreamEnd, None]:
        """The events of ``handle`` numbered above ``after``: the past ones, then (with
        ``follow``) the live ones until the session ends. The last item is a
        :class:`StreamEnd` saying why the stream ended (absent if the connection broke)."""
        from aegis.events import from_dict

        target = f"/sessions/{quote(handle)}/events?after={after}"
        if not follow:
            target += "&follow=false"
        async for kind, record in self._stream(target):
            if kind == "end":
                yield StreamEnd(record.get("reason", ""))
                return
            yield Numbered(record["seq"], record.get("t", 0.0), from_dict(record))

    async def _stream(self, target: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``(event name, data)`` of each Server-Sent Event of ``GET target`` (events
        whose data is not a JSON object are skipped)."""
        try:
            opened = http.stream(
                self.socket,
                "GET",
                API_PREFIX + target,
                headers=self._headers,
                connect_timeout=self.connect_timeout,
                head_timeout=self.timeout,
            )
            async with opened as (head, body):
                if head.status >= 400:
                    raw = b"".join([chunk async for chunk in body])
                    self._check(head.status, head.headers, _json_or_none(raw))
                self._check(head.status, head.headers, None)
                async for kind, _, data in http.server_sent_events(body):
                    record = _json_or_none(data.encode())
                    if isinstance(record, dict):
                        yield kind, record
        except http.NotListening as exc:
            raise DaemonNotRunning(exc.path, stale=not exc.missing) from None

    # --- notifications ----------------------------------------------------------------------

    async def notifications(self, after: int = 0) -> list[tuple[int, Notification]]:
        """The last notifications the daemon sent (at most 50), numbered, those above
        ``after`` only."""
        from aegis.notify import Notification

        result = await self._call("GET", f"/notifications?after={after}")
        return [
            (item["seq"], Notification.from_payload(item["notification"]))
            for item in result["notifications"]
        ]

    async def follow_notifications(
        self, after: int = 0
    ) -> AsyncIterator[tuple[int, Notification] | StreamEnd]:
        """The notifications numbered above ``after`` that the daemon still holds, then
        each one as it is sent, until the daemon stops (a last :class:`StreamEnd`). The
        stream counts as an attached client."""
        from aegis.notify import Notification

        async for kind, record in self._stream(f"/notifications?follow=true&after={after}"):
            if kind == "end":
                yield StreamEnd(record.get("reason", ""))
                return
            if record.get("type") == "notification":
                yield record["seq"], Notification.from_payload(record["notification"])

    # --- queues -----------------------------------------------------------------------------

    async def enqueue(self, queue: str, payload: str, *, sender: str = "user") -> dict[str, Any]:
        """Add a task to ``queue``; returns the task (``TaskRecord.as_dict()`` form)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/queues/{quote(queue)}/tasks", {"payload": payload, "sender": sender}
        )
        return result

    def enqueue_blocking(
        self, queue: str, payload: str, *, config_digest: str, sender: str = "user"
    ) -> dict[str, Any]:
        """:meth:`enqueue`, blocking, in a daemon running the ``.aegis.py`` whose
        :func:`~aegis.daemon.protocol.config_digest` is ``config_digest`` only (else
        :class:`DaemonError` ``config_changed``: nothing is queued). A command's first
        request, as :meth:`run_workflow_blocking` is."""
        result: dict[str, Any] = self._call_blocking(
            "POST",
            f"/queues/{quote(queue)}/tasks",
            {"payload": payload, "sender": sender},
            {CONFIG_HEADER: config_digest},
        )
        return result

    async def queues(self) -> dict[str, dict[str, int]]:
        """Each declared queue's task counts by status: ``{queue: {status: n}}``."""
        result = await self._call("GET", "/queues")
        queues: dict[str, dict[str, int]] = result["queues"]
        return queues

    async def workers(self) -> list[dict[str, Any]]:
        """The aegis processes serving the queues on every host, with a backend that leases
        its claims (PostgreSQL): ``owner``, ``host``, ``pid``, ``queues``, ``running``,
        ``heartbeat_age`` (seconds); none with SQLite (or a daemon older than this one)."""
        result = await self._call("GET", "/queues")
        workers: list[dict[str, Any]] = result.get("workers", [])
        return workers

    async def held_queues(self) -> dict[str, str]:
        """``{queue: reason}`` of the queues a budget holds now (their tasks stay queued)."""
        result = await self._call("GET", "/queues")
        held: dict[str, str] = result.get("held", {})
        return held

    async def usage(
        self, by: str | None = None, since: str | None = None, until: str | None = None
    ) -> dict[str, Any]:
        """What the project's turns spent (``aegis usage --json``'s answer, and ``held``):
        per ``by`` (day, session, profile, provider, queue, run) over ``since``/``until``."""
        query = "&".join(
            f"{key}={quote(value)}"
            for key, value in (("by", by), ("since", since), ("until", until))
            if value
        )
        result: dict[str, Any] = await self._call("GET", "/usage" + (f"?{query}" if query else ""))
        return result

    async def tasks(
        self, queue: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The ``limit`` latest tasks (of ``queue``, with ``status``), oldest first."""
        query = f"?limit={limit}"
        if queue:
            query += f"&queue={quote(queue)}"
        if status:
            query += f"&status={quote(status)}"
        result = await self._call("GET", f"/tasks{query}")
        tasks: list[dict[str, Any]] = result["tasks"]
        return tasks

    async def task(self, task_id: str) -> dict[str, Any]:
        """Task ``task_id``."""
        result: dict[str, Any] = await self._call("GET", f"/tasks/{quote(task_id)}")
        return result

    async def wait_task(self, task_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait until task ``task_id`` has ended (done, failed or cancelled); return it.

        Long polls of the daemon (no busy loop). Raises ``TimeoutError`` after
        ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = LONG_POLL_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"task {task_id} did not end within {timeout:g} s")
            wait = min(left, LONG_POLL_S)
            result: dict[str, Any] = await self._call(
                "GET", f"/tasks/{quote(task_id)}?wait={wait:.3f}", timeout=wait + self.timeout
            )
            if result["status"] in ("done", "failed", "cancelled"):
                return result

    async def cancel_task(self, task_id: str) -> dict[str, Any]:
        """Cancel task ``task_id`` (a queued one never runs, a running one has its worker
        stopped); returns it as it ended."""
        result: dict[str, Any] = await self._call("POST", f"/tasks/{quote(task_id)}/cancel")
        return result

    async def retry_task(self, task_id: str) -> dict[str, Any]:
        """Run failed or cancelled task ``task_id`` again, as a new task; returns the new task
        (a :class:`DaemonError` with code ``not_retryable`` for a task that did not fail)."""
        result: dict[str, Any] = await self._call("POST", f"/tasks/{quote(task_id)}/retry")
        return result

    # --- workflows --------------------------------------------------------------------------

    async def run_workflow(self, name: str, args: Mapping[str, str] | None = None) -> RunRecord:
        """Start workflow ``name`` with ``args`` (strings, converted to the types its
        signature declares) in the daemon; returns its record (status ``running``) at once.

        An unknown workflow (code ``unknown_workflow``) or bad arguments
        (``bad_arguments``) raise :class:`DaemonError` before anything starts.
        """
        result = await self._call("POST", "/workflows", {"name": name, "args": dict(args or {})})
        return _run_record(result)

    def run_workflow_blocking(
        self, name: str, args: Mapping[str, str] | None = None, *, config_digest: str
    ) -> RunRecord:
        """:meth:`run_workflow`, blocking, in a daemon running the ``.aegis.py`` whose
        :func:`~aegis.daemon.protocol.config_digest` is ``config_digest`` only.

        A command's first request, sent before it starts an event loop, so that the run
        starts without waiting for the imports of one (``aegis workflow run`` in a warm
        daemon). A daemon running another version of the file raises :class:`DaemonError`
        (code ``config_changed``) and runs nothing.
        """
        result = self._call_blocking(
            "POST",
            "/workflows",
            {"name": name, "args": dict(args or {})},
            {CONFIG_HEADER: config_digest},
        )
        return _run_record(result)

    async def workflows(self, limit: int = 20) -> list[RunRecord]:
        """The ``limit`` latest workflow runs of the project, newest first."""
        result = await self._call("GET", f"/workflows?limit={limit}")
        return [_run_record(item) for item in result["runs"]]

    async def workflow(self, run_id: str) -> RunRecord:
        """The record of run ``run_id`` (as it is now, for a run in progress)."""
        return _run_record(await self._call("GET", f"/workflows/{quote(run_id)}"))

    async def cancel_workflow(
        self, run_id: str, *, wait: bool = False, timeout: float = 300.0
    ) -> RunRecord:
        """Cancel run ``run_id`` of the daemon: its sessions are drained and closed and its
        record ends ``failed`` with the error ``cancelled``. Returns the record, once the
        run has ended with ``wait``, else at once (then still ``running``).

        :class:`DaemonError` codes: ``unknown_run``, ``run_not_running`` (it has ended,
        or runs in another process).
        """
        result = await self._call(
            "POST", f"/workflows/{quote(run_id)}/cancel", {"wait": wait}, timeout=timeout
        )
        return _run_record(result)

    async def resume_workflow(self, run_id: str) -> RunRecord:
        """Continue failed, crashed or cancelled run ``run_id`` from its checkpoints, under
        the same id (see ``aegis workflow resume``); returns its record (status
        ``running``) at once: follow it with :meth:`workflow_log`.

        :class:`DaemonError` codes: ``unknown_run``, ``run_not_resumable`` (it ended
        ``ok``, or is running), ``unknown_workflow`` (its workflow is gone).
        """
        return _run_record(await self._call("POST", f"/workflows/{quote(run_id)}/resume"))

    async def workflow_log(
        self, run_id: str, after: int = 0, *, follow: bool = True
    ) -> AsyncIterator[RunLine | RunSession | RunEnd]:
        """The log of run ``run_id`` numbered above ``after``: its past items, then (with
        ``follow``, a run of this daemon) the live ones until it ends. The last item is a
        :class:`RunEnd` with the run's record (absent if the connection broke)."""
        target = f"/workflows/{quote(run_id)}/log?after={after}"
        if not follow:
            target += "&follow=false"
        async for kind, record in self._stream(target):
            if kind == "end":
                sessions = record.get("sessions")
                yield RunEnd(
                    record.get("reason", ""),
                    _run_record(record["run"]),
                    dict(sessions) if isinstance(sessions, dict) else {},
                )
                return
            seq, at = record["seq"], record.get("t", 0.0)
            if record.get("type") == "session":
                yield RunSession(seq, at, record["handle"])
            elif record.get("type") == "log":
                yield RunLine(seq, at, record["stamp"], record["message"])

    # --- approvals ------------------------------------------------------------------------

    async def approvals(self, session: str | None = None) -> list[dict[str, Any]]:
        """The permission requests waiting for a person (of one session, or all), oldest
        first: ``id``, ``session``, ``at``, ``expires_at`` and ``request`` (the
        ``permission_request`` event)."""
        target = "/approvals" + (f"?session={quote(session)}" if session else "")
        result = await self._call("GET", target)
        return list(result["approvals"])

    async def answer_approval(
        self, approval_id: str, decision: str, reason: str = ""
    ) -> tuple[bool, PermissionAnswer]:
        """Answer approval ``approval_id``: ``decision`` is ``allow_once``,
        ``allow_session`` or ``deny`` (``reason``: what the agent is told). Returns whether
        this answer was taken, and the answer that holds (the first one given)."""
        result = await self._call(
            "POST", f"/approvals/{quote(approval_id)}", {"decision": decision, "reason": reason}
        )
        from aegis.events import PermissionAnswer, from_dict

        answer = from_dict(result["answer"])
        assert isinstance(answer, PermissionAnswer)
        return bool(result["taken"]), answer

    # --- terminals ------------------------------------------------------------------------

    async def terminals(self) -> list[dict[str, Any]]:
        """The shared terminals (name, shell, alive, busy, running, size, last_seq ...)."""
        result = await self._call("GET", "/terminals")
        return list(result["terminals"])

    async def spawn_terminal(
        self,
        name: str,
        *,
        shell: str | None = None,
        rows: int | None = None,
        cols: int | None = None,
    ) -> dict[str, Any]:
        """Open terminal ``name`` (``shell``: the person's by default), as ``user``."""
        data: dict[str, Any] = {"name": name}
        if shell:
            data["shell"] = shell
        if rows and cols:
            data.update(rows=rows, cols=cols)
        result: dict[str, Any] = await self._call("POST", "/terminals", data)
        return result

    async def terminal(
        self, name: str, *, lines: int = 40, since: int | None = None
    ) -> dict[str, Any]:
        """Terminal ``name`` with its last ``lines`` and, with ``since``, its commands after
        that seq (their ledger records)."""
        target = f"/terminals/{quote(name)}?lines={lines}"
        if since is not None:
            target += f"&since={since}"
        result: dict[str, Any] = await self._call("GET", target)
        return result

    async def run_in_terminal(
        self, name: str, command: str, *, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Run ``command`` in terminal ``name`` as ``user``; its ``seq``, ``status`` (``done``,
        ``timeout``, ``exited``), ``exit``, ``output`` and ``duration``."""
        result: dict[str, Any] = await self._call(
            "POST",
            f"/terminals/{quote(name)}/run",
            {"command": command, "timeout": timeout},
            timeout=timeout + self.timeout,
        )
        return result

    async def type_into(
        self, name: str, data: bytes = b"", *, text: str = "", press: tuple[str, ...] = ()
    ) -> None:
        """Type into terminal ``name`` as ``user``: raw ``data``, then ``text``, then the
        named keys of ``press`` (``enter``, ``ctrl+c`` ...)."""
        import base64

        body: dict[str, Any] = {"text": text, "press": list(press)}
        if data:
            body["data"] = base64.b64encode(data).decode()
        await self._call("POST", f"/terminals/{quote(name)}/input", body)

    async def resize_terminal(self, name: str, rows: int, cols: int) -> None:
        """Size terminal ``name`` (its viewer's size)."""
        await self._call("POST", f"/terminals/{quote(name)}/resize", {"rows": rows, "cols": cols})

    async def close_terminal(self, name: str) -> None:
        """Close terminal ``name``: its shell and what runs in it are stopped."""
        await self._call("POST", f"/terminals/{quote(name)}/close")

    async def terminal_output(self, name: str) -> AsyncIterator[bytes | StreamEnd]:
        """Terminal ``name``'s output: first what it kept (to draw the screen from), then
        what follows, until the shell exits (a last :class:`StreamEnd`)."""
        import base64

        async for kind, record in self._stream(f"/terminals/{quote(name)}/output"):
            if kind == "end":
                yield StreamEnd(record.get("reason", ""))
                return
            yield base64.b64decode(record.get("data", ""))

    # --- canvases -------------------------------------------------------------------------

    async def canvases(self) -> list[dict[str, Any]]:
        """The shared canvases (name, path, sections, subscribers)."""
        result = await self._call("GET", "/canvases")
        return list(result["canvases"])

    async def open_canvas(self, name: str, *, path: str | None = None) -> dict[str, Any]:
        """Bind canvas ``name`` to a Markdown file (created if missing), as ``user``."""
        data: dict[str, Any] = {"name": name}
        if path:
            data["path"] = path
        result: dict[str, Any] = await self._call("POST", "/canvases", data)
        return result

    async def read_canvas(self, name: str, section: str | None = None) -> str:
        """Canvas ``name`` as it is on disk, or one section's body."""
        target = f"/canvases/{quote(name)}"
        if section is not None:
            target += f"?section={quote(section)}"
        result = await self._call("GET", target)
        return str(result["text"])

    async def write_canvas(
        self, name: str, section: str, text: str, *, append: bool = False
    ) -> dict[str, Any]:
        """Replace (or with ``append``, add to) a section of canvas ``name``, as ``user``;
        the change as the ledger records it."""
        result: dict[str, Any] = await self._call(
            "POST",
            f"/canvases/{quote(name)}/sections",
            {"section": section, "text": text, "append": append},
        )
        return result

    # --- questions to a person ------------------------------------------------------------

    async def questions(self, *, all: bool = False) -> list[Question]:
        """The pending questions, oldest first (``all``: the latest ones, settled too). A
        pending one whose asker is gone has a ``note`` saying so."""
        return (await self.wait_questions(all=all))[1]

    async def wait_questions(
        self, version: int | None = None, *, wait: float = LONG_POLL_S, all: bool = False
    ) -> tuple[int, list[Question]]:
        """``(version, questions)``; given the ``version`` of an earlier answer, once the
        questions changed past it (or after ``wait`` seconds): a frontend's live list."""
        target = "/questions?all=1" if all else "/questions?all=0"
        timeout = None
        if version is not None:
            target += f"&version={version}&wait={wait:g}"
            timeout = wait + 30.0
        result = await self._call("GET", target, timeout=timeout)
        return int(result["version"]), [_question(q) for q in result["questions"]]

    async def question(self, question_id: str) -> Question:
        """Question ``question_id`` as it is now."""
        return _question(await self._call("GET", f"/questions/{quote(question_id)}"))

    async def answer_question(
        self, question_id: str, answer: str, *, sender: str = "user"
    ) -> Question:
        """Answer question ``question_id`` as ``sender`` (``user`` or ``client:<name>``).

        The first answer wins: a later one fails with code ``question_closed``; an answer
        that is not one of the question's options, with ``invalid``; one to a workflow
        run that has ended, with ``asker_gone``."""
        data = {"answer": answer, "sender": sender}
        return _question(await self._call("POST", f"/questions/{quote(question_id)}", data))


def _spawn_body(
    profile: str | None,
    handle: str | None,
    *,
    wait: bool,
    resume: str | None,
    started_by: str,
) -> dict[str, Any]:
    """The body of ``POST /sessions``."""
    data: dict[str, Any] = {"wait": wait, "started_by": started_by}
    if profile is not None:
        data["profile"] = profile
    if handle is not None:
        data["handle"] = handle
    if resume is not None:
        data["resume"] = resume
    return data


def _run_record(data: dict[str, Any]) -> RunRecord:
    from aegis.workflow.records import RunRecord

    return RunRecord.from_dict(data)


def _question(data: dict[str, Any]) -> Question:
    from aegis.questions import Question

    return Question.model_validate(data)


def _json_or_none(raw: bytes) -> Any:
    import json

    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
