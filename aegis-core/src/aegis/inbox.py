"""The InboxRouter: messages between agents that survive a session not being live.

The session manager's own inbox (:meth:`SessionManager.send`) holds messages for a live
session in memory. The router adds what that cannot: a message for a session that
is not live right now — not started yet, closed, or live in another aegis process
of the project — is kept in ``<state_dir>/inbox.db`` and handed over when a
session with that handle is live here. Queue callbacks and workflow sends go
through it::

    async with SessionManager.for_project(project) as sessions, \\
            InboxRouter(sessions, project.state_dir) as inbox:
        await inbox.deliver("lucid-knuth", "task 01h… ok: …", "queue:review",
                            key="callback:01h…")

Delivery means handing the message to the live session's inbox (it is then
delivered in order, when the session is ready). Messages of one handle are handed
over in the order they were stored. A ``key`` makes delivery idempotent: a second
message with a key already stored is ignored, which is what turns the queue's
at-least-once callback outbox into exactly-once callbacks.

The router watches the session manager's events and hands waiting messages over when a
session becomes ready; it also looks every ``poll_interval`` seconds for messages
that another process stored for sessions live here.

The inbox has its own database, not a table in ``queue.db``: the queue backend is
a plugin (it may be a remote engine), while the inbox belongs to the sessions of
this project on this host, whatever queue backend is used.

Across hosts
    With a queue backend shared by hosts that relays messages
    (:class:`~aegis.queue.backend.RelayingBackend`: PostgreSQL), the router records
    the handles of its sessions in it. A message for a session this runtime does
    not hold, but another runtime does, is kept there; the router of that runtime
    takes the messages of its sessions every ``poll_interval`` into its own inbox
    (with the key ``relay:<id>``, so a message taken twice after a crash is kept
    once), and delivers them as above.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from aegis.errors import MessageRefused
from aegis.events import StateChanged
from aegis.lifespan import Lifespan
from aegis.queue._sqlite import SqliteFile
from aegis.queue.backend import RelayingBackend
from aegis.queue.owner import current_owner
from aegis.session.handles import valid_handle
from aegis.session.info import SessionState
from aegis.session.manager import SessionClosed, SessionManager, UnknownSession
from aegis.text import clean_text

log = logging.getLogger("aegis.inbox")

DB_NAME = "inbox.db"
KEEP_DELIVERED_S = 30 * 24 * 3600
"""Delivered messages (and so their keys) are kept this long, then pruned."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- delivery order
    handle       TEXT NOT NULL,
    sender       TEXT NOT NULL,
    message      TEXT NOT NULL,
    key          TEXT UNIQUE,                        -- idempotency key, when given
    created_at   REAL NOT NULL,
    delivered_at REAL,                               -- NULL while waiting
    error        TEXT                                -- why it was refused, if it was
);
CREATE INDEX IF NOT EXISTS messages_waiting ON messages (handle, delivered_at, id)
"""


@dataclass(frozen=True)
class InboxMessage:
    """A message kept for a session, waiting to be handed over."""

    id: int
    handle: str
    sender: str
    message: str
    key: str | None
    created_at: float


class InboxStore:
    """The messages of one project's inbox (synchronous; callers use worker threads)."""

    def __init__(self, path: Path) -> None:
        self._file = SqliteFile(path, _SCHEMA)

    def add(self, handle: str, sender: str, message: str, key: str | None) -> tuple[int, bool]:
        """Store a waiting message: ``(id, True)``; for a used key, ``(first's id, False)``."""
        with self._file.write() as db:
            if key is not None:
                row = db.execute("SELECT id FROM messages WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    return row["id"], False
            cursor = db.execute(
                "INSERT INTO messages (handle, sender, message, key, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (handle, sender, message, key, time.time()),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid, True

    def delivered(self, message_id: int) -> bool:
        rows = self._file.read(
            "SELECT delivered_at, error FROM messages WHERE id = ?", (message_id,)
        )
        return bool(rows) and rows[0]["delivered_at"] is not None and rows[0]["error"] is None

    def claim(self, handle: str) -> list[InboxMessage]:
        """Mark every waiting message of ``handle`` delivered, and return them in order.

        Claiming first makes a message handed over at most once even when two
        routers (or a router's watcher and its poll) flush the same handle.
        """
        with self._file.write() as db:
            rows = db.execute(
                "SELECT * FROM messages WHERE handle = ? AND delivered_at IS NULL ORDER BY id",
                (handle,),
            ).fetchall()
            if rows:
                db.execute(
                    "UPDATE messages SET delivered_at = ?"
                    " WHERE handle = ? AND delivered_at IS NULL",
                    (time.time(), handle),
                )
        return [_message(row) for row in rows]

    def release(self, ids: Sequence[int]) -> None:
        """Put claimed messages back to waiting (the session ended before they were handed over)."""
        with self._file.write() as db:
            db.executemany(
                "UPDATE messages SET delivered_at = NULL WHERE id = ?", [(i,) for i in ids]
            )

    def refuse(self, refusals: dict[int, str]) -> None:
        """Record why claimed messages were refused (by a ``before_send`` hook)."""
        with self._file.write() as db:
            db.executemany(
                "UPDATE messages SET error = ? WHERE id = ?",
                [(error, i) for i, error in refusals.items()],
            )

    def waiting(self, handle: str) -> list[InboxMessage]:
        rows = self._file.read(
            "SELECT * FROM messages WHERE handle = ? AND delivered_at IS NULL ORDER BY id",
            (handle,),
        )
        return [_message(row) for row in rows]

    def handles_waiting(self, handles: Sequence[str]) -> list[str]:
        """Those of ``handles`` that have waiting messages."""
        if not handles:
            return []
        marks = ", ".join("?" for _ in handles)
        rows = self._file.read(
            "SELECT DISTINCT handle FROM messages"
            f" WHERE delivered_at IS NULL AND handle IN ({marks})",
            tuple(handles),
        )
        return [row["handle"] for row in rows]

    def prune(self, older_than: float) -> None:
        with self._file.write() as db:
            db.execute(
                "DELETE FROM messages WHERE delivered_at IS NOT NULL AND delivered_at < ?",
                (older_than,),
            )

    def close(self) -> None:
        self._file.close()


def _message(row: sqlite3.Row) -> InboxMessage:
    return InboxMessage(
        row["id"], row["handle"], row["sender"], row["message"], row["key"], row["created_at"]
    )


class InboxRouter(Lifespan):
    """Routes messages to sessions by handle, keeping them while the session is not live.

    Use it as an async context manager inside the session manager's block: it owns the task
    that watches the session manager's sessions.
    """

    def __init__(
        self,
        sessions: SessionManager,
        state_dir: Path,
        *,
        poll_interval: float = 1.0,
        relay: RelayingBackend | None = None,
        owner: str | None = None,
    ) -> None:
        """``relay``: the store that carries messages to and from the runtimes of other
        hosts, ``owner`` naming this one in it (see "Across hosts" above)."""
        self.sessions = sessions
        self.state_dir = state_dir
        self.poll_interval = poll_interval
        self.relay = relay
        self.owner = owner or current_owner()
        self._registered: set[str] = set()
        self._store: InboxStore | None = None
        self._lock = anyio.Lock()
        self._tg: TaskGroup | None = None

    # --- lifetime -----------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        self._store = await anyio.to_thread.run_sync(InboxStore, self.state_dir / DB_NAME)
        try:
            await anyio.to_thread.run_sync(self._store.prune, time.time() - KEEP_DELIVERED_S)
            async with anyio.create_task_group() as tg:
                self._tg = tg
                await tg.start(self._watch)
                tg.start_soon(self._poll)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self._tg = None
            store, self._store = self._store, None
            if store is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(store.close)

    def _require_store(self) -> InboxStore:
        if self._store is None:
            raise RuntimeError("use the InboxRouter in an `async with` block")
        return self._store

    # --- delivering -----------------------------------------------------------------------

    async def deliver(
        self, handle: str, message: str, sender: str, *, key: str | None = None
    ) -> bool:
        """Deliver ``message`` from ``sender`` to session ``handle``.

        Returns ``True`` when it was handed to the live session, ``False`` when it
        is kept until a session with that handle is live. With a ``key`` already
        used, nothing is stored or sent again: the result says whether the first
        message with that key was handed over.

        Raises :class:`~aegis.session.UnknownSession` when no session of this
        project ever had that handle, and :class:`~aegis.errors.MessageRefused`
        when a ``before_send`` hook refuses the message.
        """
        store = self._require_store()
        message = clean_text(message)  # stored before it is sent: see aegis.text
        if not self._known(handle):
            if self.relay is not None and await self._relay(handle, message, sender, key):
                return False  # kept for the runtime (on another host) that holds it
            raise UnknownSession(f"no session {handle!r} in this project")
        if not self._live(handle):
            message_id, fresh = await anyio.to_thread.run_sync(
                store.add, handle, sender, message, key
            )
            return fresh is False and await anyio.to_thread.run_sync(store.delivered, message_id)
        # Stored and handed over under the flush lock, so that the watch or the poll
        # cannot hand it over in between (and this call can tell what became of it).
        with anyio.CancelScope(shield=True):
            async with self._lock:
                message_id, fresh = await anyio.to_thread.run_sync(
                    store.add, handle, sender, message, key
                )
                if not fresh:
                    return await anyio.to_thread.run_sync(store.delivered, message_id)
                delivered, refused = await self._flush_locked(handle)
        if message_id in refused:
            raise refused[message_id]
        return message_id in delivered

    async def _relay(self, handle: str, message: str, sender: str, key: str | None) -> bool:
        """Keep a message for a session of another runtime; ``False``: no runtime holds it."""
        relay = self.relay
        assert relay is not None
        holder = await anyio.to_thread.run_sync(relay.session_holder, handle)
        if holder is None or holder == self.owner:
            return False
        await anyio.to_thread.run_sync(relay.relay, handle, sender, message, key)
        return True

    async def _take_relayed(self, relay: RelayingBackend) -> None:
        """Take into this inbox the messages other runtimes kept for our sessions."""
        handles = [s.handle for s in self.sessions.list_sessions()]
        new = [h for h in handles if h not in self._registered]
        if new:
            await anyio.to_thread.run_sync(relay.register_sessions, self.owner, new)
            self._registered.update(new)
        for item in await anyio.to_thread.run_sync(relay.relayed, handles):
            # A refusal is recorded with the message in this inbox: taken all the same.
            with contextlib.suppress(MessageRefused):
                await self.deliver(
                    item["handle"], item["message"], item["sender"], key=f"relay:{item['id']}"
                )
            await anyio.to_thread.run_sync(relay.mark_relayed, [item["id"]])

    async def pending(self, handle: str) -> list[InboxMessage]:
        """The messages kept for ``handle``, oldest first."""
        store = self._require_store()
        return await anyio.to_thread.run_sync(store.waiting, handle)

    def _known(self, handle: str) -> bool:
        try:
            self.sessions.get(handle)
        except UnknownSession:
            # Seen in an earlier run (or another process): its folder is kept.
            return valid_handle(handle) and (self.sessions.sessions_dir / handle).is_dir()
        return True

    def _live(self, handle: str) -> bool:
        try:
            return self.sessions.get(handle).state.live
        except UnknownSession:
            return False

    async def _flush(self, handle: str) -> None:
        """Hand every waiting message of ``handle`` to its live session, in order."""
        # Shielded: once claimed, messages must be handed over or released, not dropped.
        with anyio.CancelScope(shield=True):
            async with self._lock:  # one flush at a time keeps each handle's order
                await self._flush_locked(handle)

    async def _flush_locked(self, handle: str) -> tuple[set[int], dict[int, MessageRefused]]:
        """:meth:`_flush`, with the lock held; returns what was handed over and refused."""
        store = self._require_store()
        delivered: set[int] = set()
        refused: dict[int, MessageRefused] = {}
        if not self._live(handle):
            return delivered, refused
        claimed = await anyio.to_thread.run_sync(store.claim, handle)
        unsent: list[int] = []
        for index, item in enumerate(claimed):
            try:
                self.sessions.send(handle, item.message, sender=item.sender)
            except MessageRefused as exc:
                refused[item.id] = exc
                log.warning("message %d to %s refused: %s", item.id, handle, exc)
            except (SessionClosed, UnknownSession):  # it ended meanwhile: keep the rest
                unsent = [m.id for m in claimed[index:]]
                break
            else:
                delivered.add(item.id)
        if refused:
            await anyio.to_thread.run_sync(
                store.refuse, {i: str(exc) or "refused" for i, exc in refused.items()}
            )
        if unsent:
            await anyio.to_thread.run_sync(store.release, unsent)
        return delivered, refused

    async def _flush_quietly(self, handle: str) -> None:
        try:
            await self._flush(handle)
        except Exception:  # a broken store must not stop the router's watch
            log.exception("could not deliver the waiting messages of %s", handle)

    # --- watching -------------------------------------------------------------------------

    async def _watch(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        with self.sessions.subscribe() as events:
            task_status.started()
            async for handle, event in events:
                if not isinstance(event, StateChanged):
                    continue
                if self.relay is not None and handle not in self._registered:
                    # Known to the other runtimes at once: a handoff to it may come next.
                    self._registered.add(handle)
                    assert self._tg is not None
                    self._tg.start_soon(self._register, self.relay, handle)
                if event.state == SessionState.ready.value:
                    await self._flush_quietly(handle)

    async def _register(self, relay: RelayingBackend, handle: str) -> None:
        try:
            await anyio.to_thread.run_sync(relay.register_sessions, self.owner, [handle])
        except Exception:  # the next poll tries again
            self._registered.discard(handle)
            log.warning("could not record session %s in the shared store", handle)

    async def _poll(self) -> None:
        # Catches what the watch cannot see: messages stored by another process for a
        # session live here, and whatever was waiting when this router started.
        store = self._require_store()
        while True:
            live = [s.handle for s in self.sessions.list_sessions() if s.state.live]
            try:
                waiting = await anyio.to_thread.run_sync(store.handles_waiting, live)
            except Exception:
                log.exception("could not read the inbox")
                waiting = []
            for handle in waiting:
                await self._flush_quietly(handle)
            if self.relay is not None:
                try:
                    await self._take_relayed(self.relay)
                except Exception as exc:  # the shared store is away: the next poll retries
                    log.warning("could not take the messages kept by other hosts: %s", exc)
            await anyio.sleep(self.poll_interval)
