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

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aegis import __version__
from aegis.daemon import http
from aegis.daemon.protocol import (
    API_PREFIX,
    CLIENT_HEADER,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    VERSION_HEADER,
    socket_path,
)
from aegis.events import Event, from_dict


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
        self._headers = {
            PROTOCOL_HEADER: str(PROTOCOL_VERSION),
            VERSION_HEADER: __version__,
            CLIENT_HEADER: name,
        }

    # --- plumbing ---------------------------------------------------------------------------

    def _check(self, status: int, headers: dict[str, str], body: Any) -> None:
        protocol = headers.get(PROTOCOL_HEADER.lower())
        version = headers.get(VERSION_HEADER.lower())
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
        try:
            reply = await http.request(
                self.socket,
                method,
                API_PREFIX + target,
                data=data,
                headers=self._headers,
                connect_timeout=self.connect_timeout,
                timeout=timeout or self.timeout,
            )
        except http.NotListening as exc:
            raise DaemonNotRunning(exc.path, stale=not exc.missing) from None
        except TimeoutError:
            raise DaemonError(
                f"the daemon did not answer {method} {target} in time",
                hint="`aegis daemon logs` shows what it does",
                code="timeout",
            ) from None
        try:
            body = reply.json()
        except ValueError:
            body = None
        self._check(reply.status, reply.headers, body)
        return body

    # --- the daemon -------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """The daemon's status: versions, pid, uptime, sessions, tasks, attached clients."""
        result: dict[str, Any] = await self._call("GET", "/status")
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
        data: dict[str, Any] = {"wait": wait, "started_by": started_by}
        if profile is not None:
            data["profile"] = profile
        if handle is not None:
            data["handle"] = handle
        if resume is not None:
            data["resume"] = resume
        return SessionSummary.from_json(
            await self._call("POST", "/sessions", data, timeout=timeout)
        )

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
    ) -> AsyncIterator[Numbered | StreamEnd]:
        """The events of ``handle`` numbered above ``after``: the past ones, then (with
        ``follow``) the live ones until the session ends. The last item is a
        :class:`StreamEnd` saying why the stream ended (absent if the connection broke)."""
        target = f"{API_PREFIX}/sessions/{quote(handle)}/events?after={after}"
        if not follow:
            target += "&follow=false"
        try:
            opened = http.stream(
                self.socket,
                "GET",
                target,
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
                    if kind == "end":
                        yield StreamEnd((record or {}).get("reason", ""))
                        return
                    if isinstance(record, dict):
                        yield Numbered(record["seq"], record.get("t", 0.0), from_dict(record))
        except http.NotListening as exc:
            raise DaemonNotRunning(exc.path, stale=not exc.missing) from None

    # --- queues -----------------------------------------------------------------------------

    async def enqueue(self, queue: str, payload: str, *, sender: str = "user") -> dict[str, Any]:
        """Add a task to ``queue``; returns the task (``TaskRecord.as_dict()`` form)."""
        result: dict[str, Any] = await self._call(
            "POST", f"/queues/{quote(queue)}/tasks", {"payload": payload, "sender": sender}
        )
        return result

    async def queues(self) -> dict[str, dict[str, int]]:
        """Each declared queue's task counts by status: ``{queue: {status: n}}``."""
        result = await self._call("GET", "/queues")
        queues: dict[str, dict[str, int]] = result["queues"]
        return queues

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


def _json_or_none(raw: bytes) -> Any:
    import json

    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
