"""The contract of a queue backend: where tasks live, durably.

aegis-core ships an embedded SQLite backend (``"sqlite"``, the default); a plugin
may register another (a distributed engine, for workers on many hosts) through the
``register_queue_backends`` hook::

    @hookimpl
    def register_queue_backends(register):
        register("redis", lambda state_dir: RedisQueueBackend(...))

Every method is synchronous and may block on I/O: the :class:`QueueManager` calls
them in worker threads, never on the event loop, and from several threads at
once, so an implementation must be thread-safe. Several aegis processes (and,
for a distributed backend, hosts) may share one store: the guarantees below hold
across all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from aegis.events import Usage
from aegis.queue.task import TaskRecord, Tasks, TaskStatus

INTERRUPTED = "interrupted: aegis stopped while this task ran"
"""The error of a task that was running when the aegis process running it stopped."""


class PayloadTooLarge(ValueError):
    """A backend refuses a payload larger than it stores (``add`` raises it).

    ``str(error)`` says the limit and the size; ``hint`` the way out.
    """

    hint = "put large inputs in a file of the project and name the file in the payload"


@runtime_checkable
class QueueBackend(Protocol):
    """Durable storage of queued tasks, and the outbox of their callbacks.

    State changes are atomic and the first end of a task wins: once done, failed
    or cancelled, a task never changes again, so a late ``finish`` (a worker that
    returns after its task was cancelled or recovered) changes nothing.
    """

    def add(
        self,
        queue: str,
        payload: str,
        *,
        sender: str = "user",
        callback: bool = False,
        attempt: int = 1,
        retry_of: str | None = None,
    ) -> TaskRecord:
        """Store a new queued task and return it; its id sorts after every earlier task's.

        A backend with a size limit raises :class:`PayloadTooLarge` above it.
        """
        ...

    def claim(self, queue: str, max_parallel: int, owner: str) -> TaskRecord | None:
        """Mark the oldest queued task of ``queue`` running for ``owner``, and return it.

        Atomic across processes: nothing is claimed (``None``) when ``max_parallel``
        tasks of ``queue`` are running already, whoever runs them, or when none is
        queued.
        """
        ...

    def set_worker(self, task_id: str, worker_handle: str) -> None:
        """Record the handle of the session working on a running task."""
        ...

    def finish(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        result: str | None = None,
        error: str | None = None,
        usage: Usage | None = None,
    ) -> TaskRecord | None:
        """End a queued or running task as ``status`` (done, failed or cancelled).

        Returns the ended record, or ``None`` when the task had ended already (or
        does not exist): then nothing changes. When the task asked for a callback
        (see :attr:`TaskRecord.callback_target`), its outbox entry is written in the
        same transaction as its end, so that an ended task has exactly one.
        """
        ...

    def get(self, task_id: str) -> TaskRecord | None:
        """The task ``task_id``, or ``None``."""
        ...

    def list(
        self,
        queue: str | None = None,
        status: TaskStatus | None = None,
        limit: int | None = 100,
    ) -> Tasks:
        """The ``limit`` most recent tasks (of ``queue``, with ``status``), oldest first.

        ``limit=None`` lists them all.
        """
        ...

    def counts(self) -> dict[str, dict[str, int]]:
        """How many tasks each queue has in each status: ``{queue: {status: n}}``."""
        ...

    def recover(self, is_owner_alive: Callable[[str], bool]) -> Tasks:
        """End as failed (:data:`INTERRUPTED`) the running tasks whose owner is dead.

        ``is_owner_alive(owner)`` tells whether the process named by an owner string
        still runs. Returns the tasks recovered by this call: running it twice, or
        in two processes at once, recovers each task once (with one callback).
        """
        ...

    def pending_callbacks(self, limit: int = 100) -> Tasks:
        """Ended tasks whose callback is still to be delivered, oldest first."""
        ...

    def mark_callback_delivered(self, task_id: str) -> None:
        """Take the callback of ``task_id`` out of the outbox."""
        ...

    def close(self) -> None:
        """Release connections and files. The backend is not used afterwards."""
        ...


@runtime_checkable
class MigratingBackend(Protocol):
    """A backend whose tables live in a shared database, changed only when asked.

    ``aegis queue migrate`` calls :meth:`migrate`; every other use of such a backend
    refuses tables older than it needs, with a hint to migrate.
    """

    def migrate(self) -> list[int]:
        """Create or upgrade the tables; the versions applied by this call (none: up to date).

        Safe to run twice, or from two hosts at once.
        """
        ...

    def schema_version(self) -> int:
        """The version of the tables in the database (0: none yet)."""
        ...


@runtime_checkable
class LeasingBackend(Protocol):
    """A backend whose claims are leases, for processes on hosts that cannot check each other.

    A claim holds for :attr:`lease_seconds`; the process running the task renews it
    with :meth:`heartbeat` (the queue manager does, every third of the lease). A
    task whose lease ran out — its process died, or lost the store, on whatever
    host — is ended as failed by the next :meth:`~QueueBackend.recover` of any
    process, with the reason, and its callback once.
    """

    lease_seconds: float

    def heartbeat(self, owner: str, queues: Sequence[str]) -> None:
        """Renew the leases of ``owner``'s running tasks; ``queues`` are those it serves."""
        ...

    def workers(self) -> list[dict[str, Any]]:
        """The processes that beat lately: ``owner``, ``host``, ``pid``, ``queues``,
        ``running`` (how many tasks they run) and ``heartbeat_age`` (seconds)."""
        ...

    def retire(self, owner: str) -> None:
        """``owner`` stopped in order (its tasks ended): it is no longer listed."""
        ...


@runtime_checkable
class RelayingBackend(Protocol):
    """A store shared by hosts that carries inbox messages between their runtimes.

    A session lives in the runtime of one host. A runtime records the handles of its
    sessions here; a message for a session it does not hold (a handoff from an agent
    of another host) is kept here, and the runtime that holds the session takes it
    into its own inbox (:class:`~aegis.inbox.InboxRouter` does both).
    """

    def register_sessions(self, owner: str, handles: Sequence[str]) -> None:
        """Record that the runtime ``owner`` holds the sessions ``handles``."""
        ...

    def session_holder(self, handle: str) -> str | None:
        """The owner of the runtime holding session ``handle`` (``None``: no runtime)."""
        ...

    def relay(self, handle: str, sender: str, message: str, key: str | None) -> bool:
        """Keep a message for ``handle``; ``False`` when ``key`` was used already."""
        ...

    def relayed(self, handles: Sequence[str]) -> list[dict[str, Any]]:
        """The messages kept for ``handles`` and not taken yet, oldest first: ``id``,
        ``handle``, ``sender``, ``message``."""
        ...

    def mark_relayed(self, ids: Sequence[int]) -> None:
        """The messages ``ids`` are in their runtime's inbox: take them out."""
        ...


@runtime_checkable
class NotifyingBackend(Protocol):
    """A backend that tells of new tasks and freed slots as they commit, across processes.

    The queue manager listens while it dispatches, and wakes the queue named at
    once instead of at its next poll.
    """

    def notifications(self) -> AsyncIterator[str]:
        """Queue names, one per add or end of a task of that queue, from any process.

        It yields ``""`` first, once it listens (anything before may have been
        missed: look at every queue), and raises when the connection breaks.
        """
        ...
