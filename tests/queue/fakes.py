"""The fakes of the queue and inbox tests: in-process workers, and a running runtime.

The worker driver is the session tests' :class:`FakeDriver` (``hold`` waits for its
``release``, ``die`` kills the fake CLI), plus ``chunks``: a turn of several
streamed chunks and two assistant messages, whose whole text only ``TurnEnd``
carries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aegis import hookimpl
from aegis.config import Agent
from aegis.driver import Driver, SessionOptions
from aegis.events import AssistantMessage, StopReason, TextDelta, TurnEnd, Usage
from aegis.inbox import InboxRouter
from aegis.plugins import get_host
from aegis.queue import Queue
from aegis.queue.backend import QueueBackend
from aegis.queue.manager import QueueManager
from aegis.queue.sqlite_backend import SqliteQueueBackend
from aegis.session import SessionManager
from tests.session.fake_provider import Fake, FakeDriver, FakeProvider

WHOLE_TEXT = "First part.\n\nSecond part, the conclusion."
POLL = 0.02


class WorkerDriver(FakeDriver):
    """:class:`FakeDriver`, plus ``chunks``: a reply streamed in pieces."""

    async def prompt(self, text: str) -> TurnEnd:
        if "chunks" not in text:
            return await super().prompt(text)
        self.prompts.append(text)
        first, second = WHOLE_TEXT.split("\n\n")
        for piece in (first[:5], first[5:]):
            self.options.emit(TextDelta(piece))
        self.options.emit(AssistantMessage(first))
        self.options.emit(TextDelta(second))
        self.options.emit(AssistantMessage(second))
        end = TurnEnd(StopReason.end_turn, text=WHOLE_TEXT, usage=Usage(100, 20, 60, 0, 0.5))
        self.options.emit(end)
        return end


class WorkerProvider(FakeProvider):
    def open_driver(self, agent: Any, options: SessionOptions) -> Driver:
        return WorkerDriver(agent.provider, options)


class WorkerPlugin:
    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(WorkerProvider())


@pytest.fixture
def fake_workers() -> Iterator[None]:
    """Registers the in-process ``fake`` provider (with ``chunks``) for one test."""
    plugin = WorkerPlugin()
    get_host().register(plugin, "fake-workers")
    FakeDriver.instances.clear()
    yield
    get_host().unregister(plugin)


def sqlite_store(root: Path) -> QueueBackend:
    return SqliteQueueBackend.for_state_dir(root / ".aegis")


_open_backend: list[Callable[[Path], QueueBackend]] = [sqlite_store]


def open_backend(root: Path) -> QueueBackend:
    """A new connection to the store of the test's backend (SQLite unless a test asks)."""
    return _open_backend[-1](root)


@pytest.fixture(params=["sqlite", "postgres"])
def queue_store(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test once on each backend: :func:`running` and :func:`open_backend` use it.

    The PostgreSQL store is a fresh, migrated database of the session's real server.
    """
    if request.param == "sqlite":
        yield "sqlite"
        return
    from aegis_queue_postgres.backend import PostgresQueueBackend
    from tests.support.postgres import PASSWORD

    url = request.getfixturevalue("postgres_url")

    def postgres_store(root: Path) -> QueueBackend:
        return PostgresQueueBackend(url, password=PASSWORD)

    setup = PostgresQueueBackend(url, password=PASSWORD)
    setup.migrate()
    setup.close()
    _open_backend.append(postgres_store)
    try:
        yield "postgres"
    finally:
        _open_backend.remove(postgres_store)


AGENTS = {"worker": Agent(provider=Fake()), "boss": Agent(provider=Fake())}


@dataclass
class Running:
    sessions: SessionManager
    inbox: InboxRouter
    queues: QueueManager
    backend: QueueBackend


@asynccontextmanager
async def running(root: Path, *queues: Queue, **options: Any) -> AsyncIterator[Running]:
    """A sessions, an inbox router and a queue manager on ``root``'s state, polling fast."""
    options.setdefault("poll_interval", POLL)
    relay = options.pop("relay", False)  # carry inbox messages between hosts (PostgreSQL)
    backend = open_backend(root)
    try:
        async with (
            SessionManager(AGENTS, root=root) as sessions,
            InboxRouter(
                sessions,
                sessions.state_dir,
                poll_interval=POLL,
                relay=backend if relay else None,  # type: ignore[arg-type]
                owner=f"host-{root.name}:1:1" if relay else None,
            ) as inbox,
            QueueManager(
                {q.name: q for q in queues},
                backend=backend,
                sessions=sessions,
                inbox_router=inbox,
                **options,
            ) as manager,
        ):
            yield Running(sessions, inbox, manager, backend)
    finally:
        backend.close()


def undeliver_callbacks(backend: QueueBackend) -> None:
    """What a crash between delivering callbacks and marking them delivered leaves."""
    if isinstance(backend, SqliteQueueBackend):
        with backend._file.write() as db:
            db.execute("UPDATE callbacks SET delivered_at = NULL")
        return
    with backend._tx() as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE callbacks SET delivered_at = NULL")


def driver_for(payload: str) -> FakeDriver | None:
    """The worker driver whose first prompt was ``payload``."""
    for driver in FakeDriver.instances:
        if driver.prompts[:1] == [payload]:
            return driver
    return None
