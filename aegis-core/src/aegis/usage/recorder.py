"""The runtime's usage recorder: every turn into the ledger, and the budgets enforced.

The session manager tells the recorder of each turn's end (:meth:`UsageRecorder.on_turn`,
called on the event loop: it only schedules the write). The queue manager and the
workflow runner tell it who a session works for (:meth:`UsageRecorder.attribute`):
a queue's worker counts for its queue and task, and for the workflow run that
delegated the task; a session a workflow spawned counts for its run.

The budgets are enforced from the ledger, after this process's own turns are
written (:meth:`UsageRecorder.flush`), so that a ceiling is seen by the very next
decision:

* before a queue's dispatcher claims a task, :meth:`UsageRecorder.hold` says
  whether the queue's budget or the project's daily budget is reached (the task
  then stays queued, and the reason is shown by ``aegis queue list``);
* after each turn of a workflow run, and before the run spawns, asks or delegates
  (:meth:`UsageRecorder.check_run`), its budget and the project's: the run fails
  with :class:`~aegis.workflow.errors.WorkflowBudgetExceeded`.

Each ceiling, once reached, is announced once (``on_reached``: the runtime sends a
``budget_reached`` notification).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Literal

import anyio
from anyio.abc import TaskGroup

from aegis.errors import StateError
from aegis.events import TurnEnd, Usage
from aegis.lifespan import Lifespan
from aegis.usage.budget import Limits
from aegis.usage.ceilings import queue_reason, run_reason
from aegis.usage.ledger import TurnRecord, UsageLedger, utc_day
from aegis.workflow.errors import WorkflowBudgetExceeded

if TYPE_CHECKING:
    from pathlib import Path

    from aegis.queue.declaration import Queue
    from aegis.queue.task import TaskRecord
    from aegis.session.info import SessionInfo

log = logging.getLogger("aegis.usage")


@dataclasses.dataclass
class Attribution:
    """Who a session's turns count for, besides its profile and provider."""

    queue: str | None = None
    task: str | None = None
    run: str | None = None


@dataclasses.dataclass(frozen=True)
class BudgetReached:
    """A ceiling was reached: ``scope`` ``queue`` (``name`` a queue), ``run`` (a run
    id) or ``project`` (``name`` the UTC day); ``reason`` says it all."""

    scope: Literal["queue", "run", "project"]
    name: str
    reason: str


def run_of_sender(sender: str) -> str | None:
    """The run id of a ``workflow:<run id>`` sender, else ``None``."""
    return sender.removeprefix("workflow:") if sender.startswith("workflow:") else None


class UsageRecorder(Lifespan):
    """Records the turns of one runtime's sessions and enforces the project's budgets.

    Enter it before the session manager and leave it after (it writes the last
    turns on the way out). ``on_reached`` is called once per ceiling reached.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        limits: Limits | None = None,
        queues: Mapping[str, Queue] | None = None,
        on_reached: Callable[[BudgetReached], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_dir = state_dir
        self.limits = limits or Limits()
        self.queues = dict(queues or {})
        self.on_reached = on_reached
        self._clock = clock
        self._ledger: UsageLedger | None = None
        self._broken: str | None = None
        """Why the ledger cannot be used (then budgets hold everything they cover)."""
        self._attributions: dict[str, Attribution] = {}
        self.owner_of: Callable[[str], str | None] | None = None
        """The session that spawned a helper session (``aegis_spawn``), if any: a helper
        counts for what its owner counts for (the runtime sets it)."""
        self._runs: dict[str, tuple[str, Callable[[WorkflowBudgetExceeded], object]]] = {}
        self._announced: set[tuple[str, str]] = set()
        self._pending = 0
        self._written = anyio.Event()
        self._tg: TaskGroup | None = None

    @property
    def ledger(self) -> UsageLedger | None:
        """The open ledger (``None`` outside the ``async with`` block, or when unusable)."""
        return self._ledger

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        try:
            self._ledger = await anyio.to_thread.run_sync(UsageLedger.for_state_dir, self.state_dir)
        except StateError as exc:
            if exc.damaged:  # refused, as every store of .aegis is: `aegis repair` says how
                raise
            # Not writable now (a full disk): aegis runs on; the budgets it covers hold.
            self._broken = exc.message
            log.error("usage is not recorded: %s", exc)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    yield
                finally:
                    self._tg = None
                    with anyio.CancelScope(shield=True):
                        await self.flush()
        finally:
            if self._ledger is not None:
                ledger, self._ledger = self._ledger, None
                await anyio.to_thread.run_sync(ledger.close)

    # --- who a session works for -------------------------------------------------------------

    def attribute(
        self,
        handle: str,
        *,
        queue: str | None = None,
        task: str | None = None,
        run: str | None = None,
    ) -> None:
        """Count the turns of ``handle`` for ``queue``/``task``/``run`` (what was said
        before stays: a worker of a task a run delegated counts for all three)."""
        known = self._attributions.setdefault(handle, Attribution())
        known.queue = known.queue or queue
        known.task = known.task or task
        known.run = known.run or run

    def task_started(self, task: TaskRecord, handle: str) -> None:
        """``handle`` works on ``task``: for its queue, and for the run that asked for it
        (a ``workflow:`` sender, or an agent that works for a run)."""
        run = run_of_sender(task.sender)
        if run is None and task.sender.startswith("agent:"):
            run = self._attributions.get(task.sender.removeprefix("agent:"), Attribution()).run
        self.attribute(handle, queue=task.queue, task=task.id, run=run)

    # --- recording ---------------------------------------------------------------------------

    def on_turn(self, info: SessionInfo, end: TurnEnd) -> None:
        """A turn of session ``info`` ended: record it (the write happens in the background)."""
        if self._tg is None:
            return
        who = self._who(info.handle)
        turn = TurnRecord(
            at=self._clock(),
            session=info.handle,
            profile=info.profile,
            provider=info.provider,
            usage=end.usage or Usage(),
            stop_reason=end.stop_reason.value,
            model=info.model,
            queue=who.queue,
            task=who.task,
            run=who.run,
        )
        self._pending += 1
        self._tg.start_soon(self._record, turn)

    def _who(self, handle: str) -> Attribution:
        """What ``handle`` counts for: its own attribution, completed by its owner's (and
        theirs) when an agent spawned it."""
        who = dataclasses.replace(self._attributions.get(handle, Attribution()))
        seen = {handle}
        owner = self.owner_of(handle) if self.owner_of is not None else None
        while owner is not None and owner not in seen and not (who.queue and who.run):
            seen.add(owner)
            theirs = self._attributions.get(owner, Attribution())
            if who.queue is None:
                who.queue, who.task = theirs.queue, theirs.task
            who.run = who.run or theirs.run
            owner = self.owner_of(owner) if self.owner_of is not None else None
        return who

    async def _record(self, turn: TurnRecord) -> None:
        try:
            with anyio.CancelScope(shield=True):
                if self._ledger is not None:
                    await anyio.to_thread.run_sync(self._ledger.add, turn)
        except Exception:
            log.exception("could not record a turn of %s", turn.session)
        finally:
            self._pending -= 1
            if not self._pending:
                self._written.set()
                self._written = anyio.Event()
        if turn.run is not None and turn.run in self._runs:
            await self._check_run_now(turn.run)
        if turn.queue is not None and turn.queue in self.queues:
            await self.hold(self.queues[turn.queue])  # announces a ceiling just reached

    async def flush(self) -> None:
        """Return once every turn this recorder was told of is written."""
        while self._pending:
            await self._written.wait()

    # --- queues -------------------------------------------------------------------------------

    def _covers(self, queue: Queue) -> bool:
        return queue.budget is not None or self.limits.daily is not None

    async def hold(self, queue: Queue) -> str | None:
        """Why ``queue`` may start no task now (its budget, or the project's daily
        budget, is reached), or ``None``."""
        if not self._covers(queue):
            return None
        if self._ledger is None:
            return f"its budget cannot be checked: {self._broken or 'usage is not recorded'}"
        await self.flush()
        ledger, day = self._ledger, utc_day(self._clock())
        reason = await anyio.to_thread.run_sync(
            lambda: queue_reason(ledger, self.limits, queue, day)
        )
        if reason is not None:
            if reason.startswith("the project"):
                self._announce(BudgetReached("project", day, reason))
            else:
                self._announce(BudgetReached("queue", f"{queue.name}:{day}", reason))
        return reason

    # --- workflow runs ------------------------------------------------------------------------

    def watch_run(
        self, run_id: str, workflow: str, fail: Callable[[WorkflowBudgetExceeded], object]
    ) -> None:
        """Enforce the budgets on run ``run_id`` of ``workflow``: ``fail`` stops it."""
        self._runs[run_id] = (workflow, fail)

    def unwatch_run(self, run_id: str) -> None:
        self._runs.pop(run_id, None)

    async def check_run(self, run_id: str, workflow: str) -> None:
        """Raise :class:`WorkflowBudgetExceeded` when run ``run_id`` may spend no more."""
        reason = await self._run_reason(run_id, workflow)
        if reason is not None:
            raise WorkflowBudgetExceeded(reason)

    async def _run_reason(self, run_id: str, workflow: str) -> str | None:
        if self.limits.for_run(workflow) is None and self.limits.daily is None:
            return None
        if self._ledger is None:
            return f"the budget cannot be checked: {self._broken or 'usage is not recorded'}"
        await self.flush()
        ledger, day = self._ledger, utc_day(self._clock())
        reason = await anyio.to_thread.run_sync(
            lambda: run_reason(ledger, self.limits, run_id, workflow, day)
        )
        if reason is not None:
            if reason.startswith("the project"):
                self._announce(BudgetReached("project", day, reason))
            else:
                self._announce(BudgetReached("run", run_id, reason))
        return reason

    async def _check_run_now(self, run_id: str) -> None:
        watched = self._runs.get(run_id)
        if watched is None:
            return
        reason = await self._run_reason(run_id, watched[0])
        if reason is not None and run_id in self._runs:
            self._runs.pop(run_id)[1](WorkflowBudgetExceeded(reason))

    # --- telling of it ---------------------------------------------------------------------

    def _announce(self, reached: BudgetReached) -> None:
        key = (reached.scope, reached.name)
        if key in self._announced:
            return
        self._announced.add(key)
        log.warning("%s", reached.reason)
        if self.on_reached is not None:
            try:
                self.on_reached(reached)
            except Exception:  # telling of it must not stop the enforcing
                log.exception("announcing a budget reached failed")
