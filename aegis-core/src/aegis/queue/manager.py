"""The QueueManager: runs the tasks of named queues on fresh worker sessions.

A task is a payload for a queue. Running it spawns a fresh session of the queue's
agent profile through the session manager, sends the payload as its first turn, records the
turn's whole final assistant text (``TurnEnd.text``), usage, status and times, and
closes the session. At most ``max_parallel`` tasks of a queue run at once — across
every aegis process sharing the queue's backend — and they start oldest first.

Tasks live in a :class:`~aegis.queue.backend.QueueBackend` (``.aegis/queue.db`` by
default), so a restart loses none, and any process of the project can enqueue,
list, wait for, cancel or retry them; the processes whose manager dispatches
(``aegis serve``) run them.

Callbacks
    A task enqueued by ``agent:<handle>`` with ``callback=True`` reports back: its
    end reaches that session's inbox as one message from ``queue:<name>`` carrying
    the task id, ``ok``/``failed``/``cancelled`` and the result or the error.
    Exactly once: the backend writes the callback's outbox row in the transaction
    that ends the task (a task ends once, so it has one row); every manager
    delivers the outbox at least once (again after a crash), through the
    :class:`~aegis.inbox.InboxRouter` with the idempotency key ``callback:<task
    id>``, which stores a key once — so the session gets the message once.

The crash policy (there is one)
    A task that was running when aegis stopped ends as **failed**: after a crash
    or ``kill -9`` with the error ``"interrupted: aegis stopped while this task
    ran"``; after a graceful stop (Ctrl+C, SIGTERM, SIGHUP) that waited
    ``shutdown_grace`` seconds for it in vain with ``"interrupted by a shutdown:
    ..."`` (:data:`SHUTDOWN_INTERRUPTED`). Its callback says so, and
    :meth:`QueueManager.retry` runs it again as a new task. aegis never re-runs it
    by itself: a worker may have half-done its job (edited files, pushed a
    branch), and only its caller can tell whether running it again is safe.
    Queued tasks simply stay queued and run after a restart.

    Which tasks were running "when aegis stopped" is decided from their owner, the
    ``"<host>:<pid>:<start time>"`` of the process that claimed them: on entering
    (and every ``recover_interval`` seconds) a manager ends the running tasks of
    owners that no longer run on this host. After a graceful stop this process's
    own running tasks are ended on the way out.

Warm workers
    A queue declared with ``warm=N`` keeps N worker sessions started ahead of its
    tasks in each process that dispatches (:meth:`QueueManager.warm_workers`). A
    task takes the oldest (waiting for it to be ready if it is still starting): its
    payload is the worker's first message, as for a fresh worker, and the worker is
    closed after the task like any other. The pool is then refilled, keeping warm
    workers plus this process's running tasks of the queue at most ``max_parallel``.
    A warm worker that dies is replaced (after a pause that grows while they keep
    failing to start); the pool is closed when the manager stops dispatching.

A full disk
    When the end of a task cannot be written because the disk is full (or another
    :class:`~aegis.errors.StateError` that may pass), the manager keeps the task's
    result in memory, closes its worker, and writes the end again every few
    seconds (up to ``_RETRY_MAX``) until it is saved. Meanwhile the task still counts
    as running (``max_parallel`` holds) and ``wait`` keeps waiting. If aegis stops
    before space returns, it tries for ``shutdown_grace`` seconds more, then logs
    the result it could not save; the task is then ended as interrupted by the
    next manager, as after a crash.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from aegis import hookspecs
from aegis.errors import MessageRefused, StateError
from aegis.events import StopReason, TurnEnd, Usage
from aegis.lifespan import Lifespan
from aegis.notify import events as notifications
from aegis.plugins import get_host
from aegis.queue.backend import INTERRUPTED, LeasingBackend, NotifyingBackend, QueueBackend
from aegis.queue.declaration import Queue
from aegis.queue.owner import current_owner, is_owner_alive
from aegis.queue.task import TaskRecord, TaskStatus
from aegis.session.manager import UnknownSession
from aegis.text import clean_text

if TYPE_CHECKING:
    from aegis.inbox import InboxRouter
    from aegis.notify import Notifier
    from aegis.queue.gate import DispatchGate
    from aegis.session.manager import SessionManager
    from aegis.workspace.worktree import Worktrees

log = logging.getLogger("aegis.queue")

CANCELLED = "cancelled"
"""The error of a cancelled task."""

SHUTDOWN_INTERRUPTED = (
    "interrupted by a shutdown: aegis was stopped and the task did not finish "
    "within the {grace:g} s grace"
)
"""The error of a task this process ended on its way out (see the crash policy)."""

_CLOSE_TIMEOUT = 10.0  # seconds a worker session gets to close before we go on
_REMOTE_CHECK_INTERVAL = 1.0  # seconds between looks for a cancel made by another process
_RETRY_FIRST = 0.5  # seconds before writing a task's end again after a full disk ...
_RETRY_MAX = 10.0  # ... doubling up to this
_WARM_RETRY_FIRST = 1.0  # seconds before starting a warm worker again after one failed ...
_WARM_RETRY_MAX = 60.0  # ... doubling up to this


class UnknownQueue(LookupError):
    """No queue of that name is declared: ``no queue 'x' (queues: a, b)``."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.what = f"no queue {name!r}"
        listed = ", ".join(sorted(known)) or "none are declared in .aegis.py"
        self.hint = f"queues: {listed}"
        """The queues there are (``queues: a, b``)."""
        super().__init__(f"{self.what} ({self.hint})")


class UnknownTask(LookupError):
    """No task has that id."""


class NotRetryable(ValueError):
    """Only failed or cancelled tasks can be retried."""


def callback_text(task: TaskRecord) -> str:
    """The message a task's callback delivers: its id, how it ended, the result or the error
    (and the worker's branch, when it worked in a worktree)."""
    head = f"Task {task.id} on queue {task.queue!r}"
    branch = ""
    if task.workspace and task.workspace.get("branch"):
        stat = task.workspace.get("stat") or "no changes"
        branch = (
            f"\n\nIts changes are on branch {task.workspace['branch']} ({stat}): "
            f"`aegis diff {task.id}` shows them, `aegis land {task.id}` lands them."
        )
    if task.status is TaskStatus.done:
        return f"{head}: ok.\n\n{task.result or ''}{branch}"
    if task.status is TaskStatus.cancelled:
        return f"{head}: cancelled ({task.error or CANCELLED}).{branch}"
    return f"{head}: failed: {task.error or 'unknown error'}{branch}"


@dataclasses.dataclass(eq=False)
class _Running:
    """A task this process runs, from its claim until its worker is closed."""

    task: TaskRecord
    # Shielded: a task is stopped by stop() (a cancel, or the end of the shutdown
    # grace), never by the cancellation of what surrounds the manager.
    scope: anyio.CancelScope = dataclasses.field(
        default_factory=lambda: anyio.CancelScope(shield=True)
    )
    done: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    handle: str | None = None
    stop_reason: TaskStatus | None = None
    """Why we stop it: ``cancelled``, or ``failed`` for an interrupted task."""
    gone: str | None = None
    """Why the worker session ended before its turn did."""

    def stop(self, reason: TaskStatus) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.scope.cancel()


class QueueManager(Lifespan):
    """Runs the declared queues of one project against a queue backend.

    Use it as an async context manager inside the session manager's and the inbox router's
    blocks. Entering recovers the tasks of dead aegis processes and (unless
    ``dispatch=False``: a process that only enqueues and waits) starts one
    dispatcher per queue; leaving stops dispatching, gives running tasks
    ``shutdown_grace`` seconds, then interrupts the rest (see the crash policy in
    the module's documentation).

    ``gate`` may hold a queue (its budget is reached: see :mod:`aegis.queue.gate`);
    :attr:`held` says which and why. ``provider_limits`` caps the workers (running
    tasks and warm workers) of each provider, by its name, across every queue of
    this manager: a task waits while its provider has that many.

    ``owner`` names this process in the backend (default
    ``"<host>:<pid>:<process start time>"``). ``poll_interval`` is how often the
    backend is looked at for what other processes did (new tasks, cancels, ended
    tasks, due callbacks); what this process does is seen at once. With a backend
    that notifies (:class:`~aegis.queue.backend.NotifyingBackend`), the dispatchers
    and the callback outbox are woken by its notifications instead, and look on
    their own only every ``safety_poll`` seconds (every ``poll_interval`` while
    the notifications are down): an idle process costs the store nothing, so
    dispatch latency does not grow with the number of idle processes.

    ``serve`` limits the queues this process runs tasks of (default: all of them;
    ``aegis worker --queue``), and ``max_running`` the tasks it runs at once over
    all of them (``aegis worker --max-parallel``); each queue's ``max_parallel``
    holds besides, across every process.
    """

    def __init__(
        self,
        queues: Mapping[str, Queue],
        *,
        backend: QueueBackend,
        sessions: SessionManager,
        inbox_router: InboxRouter,
        owner: str | None = None,
        poll_interval: float = 0.25,
        shutdown_grace: float = 10.0,
        dispatch: bool = True,
        recover_interval: float = 30.0,
        hold_dispatch: bool = False,
        dispatch_on_use: bool = False,
        serve: Collection[str] | None = None,
        max_running: int | None = None,
        safety_poll: float = 10.0,
        gate: DispatchGate | None = None,
        provider_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.queues: dict[str, Queue] = dict(queues)
        unknown = sorted(set(serve or ()) - set(self.queues))
        if unknown:
            raise UnknownQueue(unknown[0], self.queues)
        self.serve: frozenset[str] = frozenset(self.queues if serve is None else serve)
        """The queues whose tasks this process runs, when it dispatches."""
        if max_running is not None and max_running < 1:
            raise ValueError(f"max_running is at least 1, not {max_running}")
        self.max_running = max_running
        self.safety_poll = safety_poll
        self.gate = gate
        self.provider_limits = dict(provider_limits or {})
        self._claiming_for: dict[str | None, int] = {}
        """Claims in flight per provider: they count against its cap until they return."""
        self.held: dict[str, str] = {}
        """``{queue: reason}`` of the queues the gate holds now (their tasks stay queued)."""
        self.backend = backend
        self.sessions = sessions
        self.inbox_router = inbox_router
        self.owner = owner or current_owner()
        self.poll_interval = poll_interval
        self.shutdown_grace = shutdown_grace
        self.dispatch = dispatch
        self.recover_interval = recover_interval
        self._held = hold_dispatch
        """No task starts until :meth:`release_dispatch` (the runtime waits for its plane)."""
        self.dispatch_on_use = dispatch_on_use
        """With ``dispatch``: a queue is dispatched only once this manager enqueued a
        task on it (a process running one workflow runs the queues it uses, not the
        tasks others left on the rest)."""
        self._dispatched: set[str] = set()
        self.notifier: Notifier | None = None
        """Told when a task fails (the runtime sets it)."""
        self._running: dict[str, _Running] = {}
        self._events: dict[str, anyio.Event] = {}
        self._stopping = False
        self._stopped_at: float | None = None
        self._dispatchers = 0
        self._warned: set[str] = set()
        self._claim_trouble: dict[str, str] = {}
        self._claiming = 0
        """Claims in flight: counted against ``max_running`` before they return."""
        self._listening = False
        """Whether the backend's notifications arrive now (see :meth:`_listen_loop`)."""
        self._interrupt_reason: str | None = None
        self._warm: dict[str, list[str]] = {name: [] for name in self.queues}
        """The warm workers of each queue, oldest first (starting or ready, given nothing)."""
        self._tg: TaskGroup | None = None

    # --- signals between the tasks of this manager ---------------------------------------

    def _event(self, name: str) -> anyio.Event:
        """The current event of ``name``: awaited by a loop, set (once) to wake it."""
        event = self._events.get(name)
        if event is None or event.is_set():
            event = self._events[name] = anyio.Event()
        return event

    def _signal(self, name: str) -> None:
        event = self._events.get(name)
        if event is not None:
            event.set()

    @staticmethod
    async def _nap(event: anyio.Event, seconds: float, *also: anyio.Event) -> None:
        """Sleep ``seconds``, or less if ``event`` or one of ``also`` (each got before
        looking) is set."""
        with anyio.move_on_after(seconds):
            if not also:
                await event.wait()
                return
            async with anyio.create_task_group() as tg:

                async def wake(one: anyio.Event) -> None:
                    await one.wait()
                    tg.cancel_scope.cancel()

                for one in (event, *also):
                    tg.start_soon(wake, one)

    # --- lifetime ---------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        await self._recover(entering=True)
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._deliver_callbacks_loop)
            tg.start_soon(self._recover_loop)
            if self.dispatch and isinstance(self.backend, LeasingBackend):
                # Only a process that may run tasks holds leases and counts as a worker.
                tg.start_soon(self._heartbeat_loop, self.backend)
            if self.dispatch and isinstance(self.backend, NotifyingBackend):
                tg.start_soon(self._listen_loop, self.backend)
            if self.dispatch and not self.dispatch_on_use:
                for queue in self.queues.values():
                    if queue.name in self.serve:
                        self._start_dispatcher(queue)
            try:
                yield
            finally:
                await self._stop(tg)
        self._tg = None

    async def wind_down(self) -> None:
        """Stop starting tasks, and give the running ones ``shutdown_grace`` seconds to end.

        Leaving the manager does this first; the runtime calls it earlier, before
        the MCP plane stops, so that workers keep their tools during the grace.
        Shielded, like the rest of an orderly stop; a second call returns at once.
        """
        if self._stopping:
            return
        with anyio.CancelScope(shield=True):
            await self.stop_taking()
            with anyio.move_on_after(self.shutdown_grace):
                while self._dispatchers:  # a claim in flight still starts its task
                    await self._nap(self._event("dispatchers"), math.inf)
            with anyio.move_on_after(self.shutdown_grace):
                while self._running:
                    await self._nap(self._event("ended"), math.inf)

    async def _stop(self, tg: TaskGroup) -> None:
        # Shielded: an orderly stop must finish even when the stop is a cancellation.
        with anyio.CancelScope(shield=True):
            await self.wind_down()
            await self._stop_running()
            with anyio.move_on_after(self.shutdown_grace):
                await self._deliver_callbacks()
            tg.cancel_scope.cancel()
            if self.dispatch and isinstance(self.backend, LeasingBackend):
                # Stopped in order: not listed among the workers until its row is stale.
                try:
                    await anyio.to_thread.run_sync(self.backend.retire, self.owner)
                except Exception as exc:
                    log.warning("could not take this process out of the workers: %s", exc)

    def _start_dispatcher(self, queue: Queue) -> None:
        if queue.name in self._dispatched or self._tg is None or self._stopping:
            return
        self._dispatched.add(queue.name)
        self._dispatchers += 1
        self._tg.start_soon(self._dispatch, queue)
        if queue.warm:
            self._tg.start_soon(self._keep_warm, queue)

    def _used(self, queue: Queue) -> None:
        """A task was enqueued on ``queue`` here: dispatch it, if only used queues are."""
        if self.dispatch and self.dispatch_on_use and queue.name in self.serve:
            self._start_dispatcher(queue)

    # --- draining (``aegis worker``) ---------------------------------------------------------

    @property
    def running_here(self) -> int:
        """How many tasks this process runs now (until their workers are closed)."""
        return len(self._running)

    async def stop_taking(self) -> None:
        """Start no task any more; the running ones go on (the first SIGTERM of a worker).

        Warm workers are closed. Leaving the manager afterwards, or
        :meth:`interrupt_running`, ends what still runs.
        """
        with anyio.CancelScope(shield=True):
            if self._stopping:
                return
            self._stopping = True
            self._stopped_at = time.monotonic()
            self._signal("stopping")
            for queue in self.queues:
                self._signal(f"wake:{queue}")
            await self._close_warm()

    async def until_idle(self) -> None:
        """Return once this process runs no task (nor is about to start one)."""
        while self._running or self._claiming:
            await self._nap(self._event("ended"), self.poll_interval)

    async def interrupt_running(self, reason: str) -> None:
        """Stop every task this process runs, recording it failed with ``reason``; return
        once each end is recorded (each with its one callback) and its worker closed."""
        with anyio.CancelScope(shield=True):
            self._interrupt_reason = reason
            await self._stop_running()

    async def _stop_running(self) -> None:
        """Stop every task this process runs (failed) and wait until each end is recorded."""
        for run in list(self._running.values()):
            run.stop(TaskStatus.failed)
        while self._running:
            await self._nap(self._event("ended"), math.inf)

    # --- the public surface ------------------------------------------------------------

    def _queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            raise UnknownQueue(name, self.queues)
        return queue

    async def enqueue(
        self, queue: str, payload: str, sender: str = "user", callback: bool = False
    ) -> str:
        """Add a task to ``queue`` and return its id; it runs when a slot is free.

        ``sender`` is who asks (``"user"``, ``"agent:<handle>"``, ``"queue:<name>"``,
        ``"workflow:<run id>"``). With ``callback`` and an ``agent:`` sender, the
        end of the task is delivered to that agent's inbox. Raises
        :class:`UnknownQueue` naming the declared queues.
        """
        declared = self._queue(queue)
        payload = clean_text(payload)  # a bad command-line argument: see aegis.text
        task = await anyio.to_thread.run_sync(
            lambda: self.backend.add(queue, payload, sender=sender, callback=callback)
        )
        get_host().notify(hookspecs.task_enqueued, task=task)
        self._used(declared)
        self._signal(f"wake:{queue}")
        return task.id

    async def get(self, task_id: str) -> TaskRecord | None:
        """The task ``task_id``, or ``None``."""
        task = await anyio.to_thread.run_sync(self.backend.get, task_id)
        return None if task is None else (await self._with_workspaces([task]))[0]

    async def _with_workspaces(self, tasks: list[TaskRecord]) -> list[TaskRecord]:
        """``tasks``, each with the worktree of its worker (when it had one)."""
        worktrees: Worktrees | None = getattr(self.sessions, "worktrees", None)

        def attach() -> list[TaskRecord]:
            if worktrees is None or not worktrees.folder.is_dir():
                return tasks
            out = []
            for task in tasks:
                record = worktrees.load(task.worker_handle) if task.worker_handle else None
                if record is not None:
                    task = dataclasses.replace(task, workspace=record.summary())
                out.append(task)
            return out

        return await anyio.to_thread.run_sync(attach)

    async def list_tasks(
        self,
        queue: str | None = None,
        status: TaskStatus | str | None = None,
        limit: int | None = 100,
    ) -> list[TaskRecord]:
        """The ``limit`` most recent tasks (of ``queue``, with ``status``), oldest first."""
        wanted = TaskStatus(status) if status is not None else None
        tasks = await anyio.to_thread.run_sync(
            lambda: self.backend.list(queue=queue, status=wanted, limit=limit)
        )
        return await self._with_workspaces(tasks)

    async def counts(self) -> dict[str, dict[str, int]]:
        """``{queue: {status: n}}`` over every task of the backend."""
        return await anyio.to_thread.run_sync(self.backend.counts)

    async def workers(self) -> list[dict[str, Any]]:
        """The processes serving the queues, for a backend that knows them (leases);
        else none. See :meth:`aegis.queue.backend.LeasingBackend.workers`."""
        if not isinstance(self.backend, LeasingBackend):
            return []
        return await anyio.to_thread.run_sync(self.backend.workers)

    async def _require(self, task_id: str) -> TaskRecord:
        task = await self.get(task_id)
        if task is None:
            raise UnknownTask(f"no task {task_id!r}")
        return task

    async def wait(
        self,
        task_id: str,
        timeout: float | None = None,
        *,
        on_worker: Callable[[str], None] | None = None,
    ) -> TaskRecord:
        """Wait until task ``task_id`` has ended (done, failed or cancelled) and return it.

        ``on_worker`` is called once with the handle of the task's worker session, as
        soon as the task has one (a task run by another process: within
        ``poll_interval``; at the latest before returning). Raises
        :class:`UnknownTask`, or ``TimeoutError`` after ``timeout`` seconds.
        """
        with anyio.fail_after(timeout):
            while True:
                ended = self._event("ended")  # got before looking: no end is missed
                started = self._event("started")
                task = await self._require(task_id)
                if on_worker is not None and task.worker_handle:
                    on_worker(task.worker_handle)
                    on_worker = None
                if task.status.ended:
                    run = self._running.get(task_id)
                    if run is None or not self._in_worktree(task.queue):
                        return task
                    # Ours, its worker closing: once closed, its worktree is saved and
                    # the task's record says where its changes are. (A worker without
                    # one is not waited for: its closing is not the caller's time.)
                    await run.done.wait()
                    return await self._require(task_id)
                # Woken by the task's start too while its worker is still to be told.
                await self._nap(ended, self.poll_interval, *([started] if on_worker else []))

    def _in_worktree(self, queue: str) -> bool:
        """Whether the workers of ``queue`` work in worktrees of their own."""
        declared = self.queues.get(queue)
        if declared is not None and declared.workspace is not None:
            return declared.workspace == "worktree"
        agent = self.sessions.agents.get(declared.agent_profile) if declared else None
        return agent is None or agent.workspace == "worktree"

    async def cancel(self, task_id: str) -> TaskRecord:
        """Cancel a task: a queued one never runs; a running one has its worker stopped.

        Returns the task as it ended. An ended task is left as it is (and
        returned). A task running in another aegis process is marked cancelled at
        once, and that process stops its worker within about a second.
        """
        task = await self._require(task_id)
        if task.status.ended:
            return task
        ended = await anyio.to_thread.run_sync(
            lambda: self.backend.finish(task_id, TaskStatus.cancelled, error=CANCELLED)
        )
        if ended is not None:
            self._task_ended(ended)
        run = self._running.get(task_id)
        if run is not None:  # ours: interrupt and close its worker before returning
            run.stop(TaskStatus.cancelled)
            await run.done.wait()
        return await self._require(task_id)

    async def retry(self, task_id: str) -> str:
        """Enqueue a failed or cancelled task again; returns the new task's id.

        The new task has the same queue, payload, sender and callback, the next
        ``attempt`` number, and ``retry_of`` set to ``task_id``.
        """
        task = await self._require(task_id)
        if task.status not in (TaskStatus.failed, TaskStatus.cancelled):
            raise NotRetryable(
                f"task {task_id} is {task.status.value}: only failed or cancelled tasks are retried"
            )
        declared = self._queue(task.queue)
        new = await anyio.to_thread.run_sync(
            lambda: self.backend.add(
                task.queue,
                task.payload,
                sender=task.sender,
                callback=task.callback,
                attempt=task.attempt + 1,
                retry_of=task.id,
            )
        )
        get_host().notify(hookspecs.task_enqueued, task=new)
        self._used(declared)
        self._signal(f"wake:{task.queue}")
        return new.id

    def warm_workers(self) -> dict[str, str]:
        """``{handle: queue name}`` of the warm workers: started ahead of a task, given
        nothing yet. They are not work in progress (an idle daemon stops with them)."""
        return {handle: name for name, pool in self._warm.items() for handle in pool}

    # --- dispatching ----------------------------------------------------------------------

    def release_dispatch(self) -> None:
        """Let tasks start (a manager made with ``hold_dispatch=True`` waits for this)."""
        self._held = False
        self._signal("released")

    async def _dispatch(self, queue: Queue) -> None:
        try:
            while self._held and not self._stopping:
                await self._nap(self._event("released"), self.poll_interval)
            while not self._stopping:
                wake = self._event(f"wake:{queue.name}")
                while (
                    not self._stopping
                    and self._running_here(queue) < queue.max_parallel
                    and self._room_here()
                ):
                    # The budget's look awaits: max_running is looked at again after it.
                    if not await self._may_start(queue) or not self._room_here():
                        break
                    provider = self._provider(queue)
                    self._claiming_for[provider] = self._claiming_for.get(provider, 0) + 1
                    self._claiming += 1
                    try:
                        task = await anyio.to_thread.run_sync(
                            self.backend.claim, queue.name, queue.max_parallel, self.owner
                        )
                    except StateError as exc:
                        # Said once, not at every poll: damage or a full disk lasts.
                        if self._claim_trouble.get(queue.name) != exc.message:
                            self._claim_trouble[queue.name] = exc.message
                            log.error("queue %s cannot take tasks: %s", queue.name, exc)
                        break
                    except Exception:
                        log.exception("could not claim a task of queue %s", queue.name)
                        break
                    finally:
                        self._claiming -= 1
                        self._claiming_for[provider] -= 1
                    if self._claim_trouble.pop(queue.name, None) is not None:
                        log.warning("queue %s takes tasks again", queue.name)
                    if task is None:
                        break
                    run = self._running[task.id] = _Running(task)
                    assert self._tg is not None
                    self._tg.start_soon(self._run, queue, run)
                await self._nap(wake, self._look_interval())
        finally:
            self._dispatchers -= 1
            self._signal("dispatchers")

    def _room_here(self) -> bool:
        """Whether ``max_running`` lets this process start one more task."""
        return self.max_running is None or len(self._running) + self._claiming < self.max_running

    def _look_interval(self) -> float:
        """How long a loop that the backend's notifications wake sleeps between looks."""
        return self.safety_poll if self._listening else self.poll_interval

    async def _may_start(self, queue: Queue) -> bool:
        """Whether a task of ``queue`` may start now: not held by the gate (a budget), and
        with room under its provider's cap (or a warm worker of its own to take)."""
        if self.gate is not None:
            reason = await self.gate.hold(queue)
            if reason is not None:
                if self.held.get(queue.name) != reason:
                    log.warning("queue %s holds its tasks: %s", queue.name, reason)
                self.held[queue.name] = reason
                return False
            if self.held.pop(queue.name, None) is not None:
                log.warning("queue %s starts tasks again", queue.name)
        if any(self._live(handle) for handle in self._warm[queue.name]):
            return True  # taking a warm worker starts no new session
        return self._provider_room(queue) > 0

    def _provider(self, queue: Queue) -> str | None:
        agent = self.sessions.agents.get(queue.agent_profile)
        return None if agent is None else agent.harness

    def _provider_room(self, queue: Queue) -> float:
        """How many more workers of ``queue``'s provider may start (``inf``: no cap)."""
        provider = self._provider(queue)
        cap = self.provider_limits.get(provider) if provider is not None else None
        if cap is None:
            return math.inf
        same = {name for name, q in self.queues.items() if self._provider(q) == provider}
        busy = sum(1 for run in self._running.values() if run.task.queue in same)
        busy += sum(len(self._warm[name]) for name in same)
        return cap - busy - self._claiming_for.get(provider, 0)

    def _running_here(self, queue: Queue) -> int:
        # Counts workers until they are closed, so this process never has more
        # than max_parallel sessions of the queue, even while one is closing.
        return sum(1 for run in self._running.values() if run.task.queue == queue.name)

    async def _run(self, queue: Queue, run: _Running) -> None:
        """Run one claimed task to its end, and always record that end."""
        task = run.task
        # Until the turn has ended, the outcome is "interrupted": that is what is
        # recorded if this process is stopped (cancelled) while the task runs.
        status, result, usage = TaskStatus.failed, None, None
        error: str | None = INTERRUPTED
        try:
            with run.scope:
                run.handle = self._take_warm(queue)
                if run.handle is None:
                    run.handle = await self._spawn(queue)
                else:
                    await self.sessions.wait_ready(run.handle)
                if self.gate is not None:
                    self.gate.task_started(task, run.handle)
                await anyio.to_thread.run_sync(self.backend.set_worker, task.id, run.handle)
                self._signal("started")
                get_host().notify(
                    hookspecs.task_started, task=dataclasses.replace(task, worker_handle=run.handle)
                )
                end = await self._work(queue, run, run.handle)
                status = TaskStatus.done if end.ok else TaskStatus.failed
                result, usage = end.text, end.usage
                error = None if end.ok else end.error or f"the turn ended: {end.stop_reason}"
            if run.stop_reason is TaskStatus.cancelled:
                status, error = TaskStatus.cancelled, CANCELLED
            elif self._stopping and error == INTERRUPTED:
                error = self._interrupt_reason or SHUTDOWN_INTERRUPTED.format(
                    grace=self.shutdown_grace
                )
        except Exception as exc:  # the worker could not start (DriverError), and the like
            status, error = TaskStatus.failed, str(exc) or type(exc).__name__
        finally:
            # Shielded: the end of a task is recorded even when aegis is stopping.
            with anyio.CancelScope(shield=True):
                await self._settle(run, status, result, error, usage)

    async def _work(self, queue: Queue, run: _Running, handle: str) -> TurnEnd:
        """The worker's first turn, watched for a worker that dies and a task ended elsewhere."""
        end: TurnEnd | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch, run, handle, tg.cancel_scope)
            try:
                end = await self.sessions.request(
                    handle, run.task.payload, sender=f"queue:{queue.name}"
                )
            except Exception as exc:  # refused by a before_send hook, session gone
                end = TurnEnd(StopReason.error, error=str(exc) or type(exc).__name__)
            tg.cancel_scope.cancel()
        if end is None:  # the watch stopped the turn: the worker session ended
            end = TurnEnd(StopReason.error, error=run.gone or f"worker {handle} ended")
        return end

    async def _watch(self, run: _Running, handle: str, work: anyio.CancelScope) -> None:
        """Stop the turn when its session ended without answering, or the task ended elsewhere."""
        checks = 0
        try:
            while True:
                await anyio.sleep(self.poll_interval)
                info = self.sessions.get(handle)
                if not info.state.live:
                    # Its CLI died mid-turn: give a late answer a moment to win, then stop.
                    await anyio.sleep(self.poll_interval)
                    run.gone = info.error or f"the worker session {handle} ended"
                    work.cancel()
                    return
                checks += 1
                if checks * self.poll_interval >= _REMOTE_CHECK_INTERVAL:
                    checks = 0
                    task = await anyio.to_thread.run_sync(self.backend.get, run.task.id)
                    if task is not None and task.status.ended:  # cancelled or recovered
                        run.stop(task.status)
                        return
        except Exception:  # the watch is a safety net: it must not fail the task
            log.exception("watching task %s failed", run.task.id)

    async def _settle(
        self,
        run: _Running,
        status: TaskStatus,
        result: str | None,
        error: str | None,
        usage: Usage | None,
    ) -> None:
        """Record how a task ended (the first end wins), close its worker, tell everyone."""
        task = run.task
        # Text the database cannot store must not leave a finished task "running".
        result = None if result is None else clean_text(result)
        error = None if error is None else clean_text(error)

        def finish() -> TaskRecord | None:
            return self.backend.finish(task.id, status, result=result, error=error, usage=usage)

        unsaved: StateError | None = None
        ended: TaskRecord | None = None
        try:
            ended = await anyio.to_thread.run_sync(finish)
        except StateError as exc:
            if not exc.transient:
                log.error("could not record the end of task %s: %s", task.id, exc)
            unsaved = exc if exc.transient else None
        except Exception:
            log.exception("could not record the end of task %s", task.id)
        if ended is not None:
            # Whoever waits for the task sees its end now, not once its worker has closed
            # (closing an agent takes tens of milliseconds; a worktree's waiter still waits).
            self._signal("ended")
        if run.handle is not None:
            with anyio.move_on_after(_CLOSE_TIMEOUT):
                try:
                    if run.stop_reason is not None:
                        await self.sessions.interrupt(run.handle)
                    await self.sessions.close(run.handle)
                except Exception:
                    log.exception("could not close worker %s of task %s", run.handle, task.id)
        if unsaved is not None:
            ended = await self._finish_later(task, finish, unsaved, result)
        self._running.pop(task.id, None)
        run.done.set()
        if ended is not None:
            self._task_ended(ended)
        else:
            self._signal("ended")
        # A slot of this process (max_running), or of a provider's cap shared by its
        # queues, may be free for every queue.
        shared = self.max_running is not None or self.provider_limits
        for name in self.serve if shared else [task.queue]:
            self._signal(f"wake:{name}")
            self._signal(f"warm:{name}")

    async def _finish_later(
        self,
        task: TaskRecord,
        finish: Callable[[], TaskRecord | None],
        error: StateError,
        result: str | None,
    ) -> TaskRecord | None:
        """Write a task's end until it is saved (the result waits in memory meanwhile)."""
        delay = _RETRY_FIRST
        while True:
            if self._stopped_at is not None and (
                time.monotonic() - self._stopped_at >= self.shutdown_grace
            ):
                log.error(
                    "aegis stops and the end of task %s still cannot be saved (%s); "
                    "it will be marked interrupted. Its result was: %s",
                    task.id,
                    error.message,
                    result,
                )
                return None
            log.warning(
                "cannot save the end of task %s (%s): keeping its result, retrying in %.1fs",
                task.id,
                error.message,
                delay,
            )
            await self._nap(self._event("stopping"), delay)
            delay = min(delay * 2, _RETRY_MAX)
            try:
                return await anyio.to_thread.run_sync(finish)
            except StateError as exc:
                if not exc.transient:
                    log.error("could not record the end of task %s: %s", task.id, exc)
                    return None
                error = exc
            except Exception:
                log.exception("could not record the end of task %s", task.id)
                return None

    def _task_ended(self, task: TaskRecord) -> None:
        get_host().notify(hookspecs.task_finished, task=task)
        if task.status is TaskStatus.failed and self.notifier is not None:
            self.notifier.send(notifications.task_failed(task))
        self._signal("ended")
        if task.callback_target is not None:
            self._signal("callbacks")

    # --- warm workers ---------------------------------------------------------------------------

    def _take_warm(self, queue: Queue) -> str | None:
        """The oldest live warm worker of ``queue``, now the task's (``None``: there is none)."""
        pool = self._warm[queue.name]
        while pool:
            handle = pool.pop(0)
            if self._live(handle):
                self._signal(f"warm:{queue.name}")  # refill, if max_parallel leaves room
                return handle
        return None

    def _live(self, handle: str) -> bool:
        try:
            return self.sessions.get(handle).state.live
        except UnknownSession:
            return False

    async def _keep_warm(self, queue: Queue) -> None:
        """Keep ``min(warm, max_parallel - running here)`` warm workers of ``queue``."""
        pool = self._warm[queue.name]
        delay = 0.0  # a pause before starting more, growing while warm workers fail to start
        try:
            while self._held and not self._stopping:
                await self._nap(self._event("released"), self.poll_interval)
            while not self._stopping:
                changed = self._event(f"warm:{queue.name}")
                for handle in [h for h in pool if not self._live(h)]:
                    pool.remove(handle)
                    info = self.sessions.get(handle)
                    if info.state.value == "failed":
                        delay = min(max(delay * 2, _WARM_RETRY_FIRST), _WARM_RETRY_MAX)
                        log.warning(
                            "a warm worker of queue %s failed to start (%s); next try in %.0f s",
                            queue.name,
                            info.error or "no reason given",
                            delay,
                        )
                if any(self._ready(h) for h in pool):
                    delay = 0.0
                if delay and not pool:
                    await self._nap(self._event("stopping"), delay)
                if not await self._fill(queue, pool):
                    delay = min(max(delay * 2, _WARM_RETRY_FIRST), _WARM_RETRY_MAX)
                await self._nap(changed, self.poll_interval)
        except Exception:  # the pool is a speed-up: a fault here must not stop the queue
            log.exception("keeping warm workers of queue %s failed", queue.name)

    async def _fill(self, queue: Queue, pool: list[str]) -> bool:
        """Start warm workers up to what ``max_parallel`` leaves room for; ``False`` if a
        spawn failed at once (the state folder, say: it is logged)."""
        want = min(queue.warm, queue.max_parallel - self._running_here(queue))
        while len(pool) < want and not self._stopping and self._provider_room(queue) > 0:
            try:
                pool.append(await self._spawn(queue, wait=False))
            except Exception as exc:
                log.warning("could not start a warm worker of queue %s: %s", queue.name, exc)
                return False
        return True

    async def _spawn(self, queue: Queue, *, wait: bool = True) -> str:
        """A new worker of ``queue``: its profile, in the queue's workspace if it names one."""
        return await self.sessions.spawn(
            queue.agent_profile,
            wait=wait,
            workspace=queue.workspace,
            started_by=f"queue:{queue.name}",
        )

    def _ready(self, handle: str) -> bool:
        try:
            return self.sessions.get(handle).state.value in ("ready", "busy")
        except UnknownSession:
            return False

    async def _close_warm(self) -> None:
        """Close every warm worker (concurrently, bounded): the manager stops dispatching."""
        handles = list(self.warm_workers())
        for pool in self._warm.values():
            pool.clear()

        async def close(handle: str) -> None:
            try:
                await self.sessions.close(handle)
            except Exception:
                log.exception("could not close warm worker %s", handle)

        with anyio.move_on_after(_CLOSE_TIMEOUT):
            async with anyio.create_task_group() as tg:
                for handle in handles:
                    tg.start_soon(close, handle)

    # --- callbacks and recovery ---------------------------------------------------------------

    async def _deliver_callbacks_loop(self) -> None:
        while True:
            due = self._event("callbacks")
            await self._deliver_callbacks()
            await self._nap(due, self._look_interval())

    async def _deliver_callbacks(self) -> None:
        """Deliver the outbox: at least once here, exactly once thanks to the inbox's key."""
        try:
            tasks = await anyio.to_thread.run_sync(self.backend.pending_callbacks)
            tasks = await self._with_workspaces(tasks)
        except StateError as exc:  # the store is away: said once, not at every poll
            if self._claim_trouble.get("") != exc.message:
                self._claim_trouble[""] = exc.message
                log.warning("could not read the callback outbox: %s", exc.message)
            return
        except Exception:
            log.exception("could not read the callback outbox")
            return
        self._claim_trouble.pop("", None)
        for task in tasks:
            if task.id in self._running and self._in_worktree(task.queue):
                # Its worker is still closing: the callback waits for it, so that it can
                # say where the worker's changes are (its worktree is saved at close).
                continue
            target = task.callback_target
            if (
                target is not None
                and isinstance(self.backend, LeasingBackend)
                and not self.sessions.known(target)
            ):
                # A store shared by hosts: the session is another host's runtime's, which
                # delivers it; dropping it here would lose it.
                continue
            try:
                if target is not None:
                    await self.inbox_router.deliver(
                        target,
                        callback_text(task),
                        f"queue:{task.queue}",
                        key=f"callback:{task.id}",
                    )
            except (UnknownSession, MessageRefused) as exc:
                # Nobody to deliver to, or refused for good: retrying cannot help.
                log.warning("callback of task %s to %s dropped: %s", task.id, target, exc)
            except Exception as exc:
                if task.id not in self._warned:
                    self._warned.add(task.id)
                    log.warning("callback of task %s not delivered yet: %s", task.id, exc)
                continue
            try:
                await anyio.to_thread.run_sync(self.backend.mark_callback_delivered, task.id)
            except Exception:
                log.exception("could not mark the callback of task %s delivered", task.id)

    async def _recover_loop(self) -> None:
        interval = self.recover_interval
        if isinstance(self.backend, LeasingBackend):
            # An expired lease is found within half a lease of its end.
            interval = min(interval, self.backend.lease_seconds / 2)
        while True:
            await anyio.sleep(interval)
            await self._recover()

    async def _listen_loop(self, backend: NotifyingBackend) -> None:
        """Wake a queue's dispatcher as soon as another process adds a task or frees a slot,
        and the outbox and the waiters as soon as a task ends anywhere."""
        while True:
            try:
                async for name in backend.notifications():
                    self._listening = True
                    for queue in [name] if name else list(self.queues):
                        self._signal(f"wake:{queue}")
                    # An end may carry a callback, and someone may wait for it.
                    self._signal("callbacks")
                    self._signal("ended")
            except Exception as exc:  # the polls go on meanwhile: faster, not stopped
                log.warning("queue wake-ups lost (%s); listening again", exc)
            finally:
                if self._listening:
                    self._listening = False
                    for queue in self.queues:  # nap at the fast poll from now on
                        self._signal(f"wake:{queue}")
                    self._signal("callbacks")
            await anyio.sleep(1.0)

    async def _heartbeat_loop(self, backend: LeasingBackend) -> None:
        """Renew this process's leases every third of a lease: two may fail in a row."""
        while True:
            try:
                await anyio.to_thread.run_sync(backend.heartbeat, self.owner, sorted(self.serve))
            except Exception:  # the store is away: the next beat tries again
                log.exception("could not renew the leases of this process's tasks")
            await anyio.sleep(backend.lease_seconds / 3)

    async def _recover(self, *, entering: bool = False) -> None:
        """End the tasks that dead aegis processes were running (see the crash policy)."""
        try:
            recovered = await anyio.to_thread.run_sync(self.backend.recover, self._owner_alive)
        except StateError as exc:  # the store is away or refuses: said, not a traceback
            # On entering, whoever uses the manager next meets the same error and says
            # it in its own voice (`aegis queue list`): a warning here would say it twice.
            level = logging.INFO if entering else logging.WARNING
            log.log(level, "could not recover interrupted tasks: %s", exc.message)
            return
        except Exception:
            log.exception("could not recover interrupted tasks")
            return
        for task in recovered:
            log.warning("task %s on queue %s: %s", task.id, task.queue, task.error or INTERRUPTED)
            self._task_ended(task)

    def _owner_alive(self, owner: str) -> bool:
        # This manager's own tasks are alive while it runs them, whatever its owner string.
        return owner == self.owner or is_owner_alive(owner)
