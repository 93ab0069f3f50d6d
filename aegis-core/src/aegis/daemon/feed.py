"""Every session's canonical events, numbered, for subscribers that start at any number.

The session layer numbers each session's events from 1 (``Session.seq``; a session
resumed under its earlier handle goes on from that run's last number) and writes
them, with their numbers, to the session's JSONL transcript. The feed subscribes to
the runtime's session manager, numbered, before any session exists.

:meth:`EventFeed.records` serves a subscription that starts after number ``after``:
it first listens to the live events, then makes the transcript writer flush, reads
the transcript (every event before the listening began is in it), and then goes on
with the live events, skipping those the transcript already gave. So nothing is
missed and nothing comes twice, however the two overlap.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from aegis.events import Event, StateChanged, to_dict
from aegis.session.manager import SessionManager
from aegis.session.transcript import read_records

Record = dict[str, Any]
"""An event as the transcript and the protocol carry it: ``{"seq", "t", "type", ...}``."""

ENDED_STATES = ("closed", "failed")


def as_record(event: Event, seq: int, at: float) -> Record:
    """The protocol's (and the transcript's) form of an event."""
    return {"seq": seq, "t": round(at, 3), **to_dict(event)}


@dataclass
class SessionLog:
    """What the feed knows of one session: how many events so far, since when."""

    seq: int = 0
    first_at: float = field(default_factory=time.time)
    ended: bool = False


class EventFeed:
    """Numbers the events of every session of ``sessions`` and fans them out."""

    def __init__(self, sessions: SessionManager) -> None:
        self.sessions = sessions
        self.logs: dict[str, SessionLog] = {}
        self._listeners: dict[str, list[MemoryObjectSendStream[Record]]] = {}
        self._sessions_changed = anyio.Event()

    async def run(self, stream: MemoryObjectReceiveStream[tuple[str, int, Event]]) -> None:
        """Consume the manager's numbered stream of every event (subscribed before any
        session: :meth:`SessionManager.subscribe_numbered`)."""
        async for handle, seq, event in stream:
            log = self.logs.get(handle)
            if log is None or isinstance(event, StateChanged):
                # A new session, or a new state: the watchers of the list look again.
                self._sessions_changed.set()
                self._sessions_changed = anyio.Event()
            if log is None:
                log = self.logs[handle] = SessionLog()
            log.seq = seq
            if isinstance(event, StateChanged):
                # A closed session resumed under its handle lives again.
                log.ended = event.state in ENDED_STATES
            record = as_record(event, log.seq, time.time())
            for listener in self._listeners.get(handle, ()):
                listener.send_nowait(record)

    def sessions_changed(self) -> anyio.Event:
        """Set when a session appears or changes state after this call (take it before
        looking at the sessions, so that no change is missed)."""
        return self._sessions_changed

    def seq(self, handle: str) -> int:
        """The number of the last event of ``handle`` so far (0: none)."""
        log = self.logs.get(handle)
        return log.seq if log else 0

    async def records(
        self, handle: str, after: int = 0, follow: bool = True
    ) -> AsyncGenerator[Record, None]:
        """The events of ``handle`` numbered above ``after``: the past ones from the
        transcript, then (with ``follow``, while the session lives) the live ones.

        Ends once the session has ended and its last event was given.
        """
        send, receive = anyio.create_memory_object_stream[Record](math.inf)
        listeners = self._listeners.setdefault(handle, [])
        listeners.append(send)
        try:
            last = after
            await self.sessions.flush_transcripts()
            path = self.sessions.transcript_path(handle)
            for record in await anyio.to_thread.run_sync(lambda: list(read_records(path))):
                seq = record.get("seq")
                if isinstance(seq, int) and seq > last:
                    last = seq
                    yield record
            if not follow:
                return
            if not self._live(handle):
                # Ended: its last events may have come while the transcript was read.
                while True:
                    try:
                        record = receive.receive_nowait()
                    except anyio.WouldBlock:
                        return
                    if record["seq"] > last:
                        last = record["seq"]
                        yield record
            async for record in receive:
                if record["seq"] <= last:
                    continue  # the transcript gave it already
                last = record["seq"]
                yield record
                if record["type"] == StateChanged.type and record["state"] in ENDED_STATES:
                    return
        finally:
            listeners.remove(send)
            if not listeners:
                del self._listeners[handle]
            send.close()
            receive.close()

    def _live(self, handle: str) -> bool:
        # The manager's word first: a session resumed under the handle of one that
        # ended in this daemon is live before its first event reaches the feed.
        try:
            return self.sessions.get(handle).state.live
        except LookupError:
            return False

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return sum(len(listeners) for listeners in self._listeners.values())
