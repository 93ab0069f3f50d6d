"""The daemon's workflow runs: started on request, each with a numbered live log.

A run's log, as the protocol serves it, is a list of numbered items: its log lines
(``{"type": "log", "stamp", "message"}``) and the sessions of the run as they
appear (``{"type": "session", "handle"}``: one it spawned, or the worker of a task
it delegated; their events are each session's own stream). The daemon keeps the
log of each run it started in memory (the latest :data:`KEEP_ENDED` ended ones
too); any other run is replayed from its record on disk (its log lines only).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from aegis.workflow.runner import RunRecord, RunStatus, WorkflowRunner, load_run, new_run_id

log = logging.getLogger("aegis.daemon")

Item = dict[str, Any]
"""One numbered item of a run's log: ``{"seq", "t", "type", ...}``."""

KEEP_ENDED = 50
"""How many ended runs keep their whole log (with their sessions) in memory."""


class UnknownRun(LookupError):
    """No run has that id in this project."""


class RunLog:
    """The numbered log of one run of this daemon, and its live record."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.items: list[Item] = []
        self.sessions: list[str] = []
        self.ended = False
        self.last_seqs: dict[str, int] = {}
        """At the run's end, the number of each of its live sessions' last event then."""
        self._changed = anyio.Event()

    def _add(self, item: Item) -> None:
        self.items.append({"seq": len(self.items) + 1, "t": round(time.time(), 3), **item})
        self._changed.set()
        self._changed = anyio.Event()

    def line(self, stamp: str, message: str) -> None:
        """A log line of the run."""
        self._add({"type": "log", "stamp": stamp, "message": message})

    def session(self, handle: str) -> None:
        """A session of the run (said once per handle)."""
        if handle not in self.sessions:
            self.sessions.append(handle)
            self._add({"type": "session", "handle": handle})

    def end(self, last_seqs: Mapping[str, int] | None = None) -> None:
        """The run has ended: its record is final; ``last_seqs``: its live sessions'
        last event numbers then (a client showing them needs no more)."""
        self.last_seqs = dict(last_seqs or {})
        self.ended = True
        self._changed.set()

    async def follow(self, after: int) -> AsyncGenerator[Item, None]:
        """The items numbered above ``after``, then the new ones, until the run ends."""
        last = after
        while True:
            changed = self._changed  # got before looking: nothing added is missed
            while last < len(self.items):
                last += 1
                yield self.items[last - 1]
            if self.ended:
                return
            await changed.wait()


def _replayed(record: RunRecord, after: int) -> list[Item]:
    """The log lines of a run on disk, numbered as items."""
    items = []
    for seq, (stamp, message) in enumerate(record.log, 1):
        if seq > after:
            try:
                at = datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                at = record.started_at
            items.append(
                {"seq": seq, "t": round(at, 3), "type": "log", "stamp": stamp, "message": message}
            )

    return items


class WorkflowRuns:
    """Starts workflow runs in the daemon's task group and serves their logs."""

    def __init__(self, runner: WorkflowRunner) -> None:
        self.runner = runner
        self.logs: dict[str, RunLog] = {}
        self._tg: TaskGroup | None = None

    async def run(self) -> None:
        """Hold the task group the runs run in, until cancelled (the daemon stops:
        each run still running ends ``crashed``, its sessions closed)."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                await anyio.sleep_forever()
            finally:
                self._tg = None

    @property
    def running(self) -> list[str]:
        """The ids of the runs running now."""
        return self.runner.running

    async def start(self, name: str, arguments: Mapping[str, str]) -> RunRecord:
        """Start workflow ``name``; return its record once saved (status ``running``).

        The caller checked the workflow and its arguments.
        """
        if self._tg is None:
            raise RuntimeError("the daemon is not running workflows (stopping)")
        record: RunRecord = await self._tg.start(self._run, name, dict(arguments))
        return record

    async def resume(self, run_id: str) -> RunRecord:
        """Resume run ``run_id`` from its checkpoints (see :meth:`WorkflowRunner.resume`);
        return its record once saved (status ``running``, the same id). Raises
        :class:`~aegis.workflow.runner.NotResumable`."""
        if self._tg is None:
            raise RuntimeError("the daemon is not running workflows (stopping)")
        record: RunRecord = await self._tg.start(self._resume, run_id)
        return record

    async def _resume(self, run_id: str, *, task_status: TaskStatus[RunRecord]) -> None:
        await self._follow(
            lambda **hooks: self.runner.resume(run_id, **hooks), task_status=task_status
        )

    async def _run(
        self, name: str, arguments: dict[str, str], *, task_status: TaskStatus[RunRecord]
    ) -> None:
        await self._follow(
            lambda **hooks: self.runner.run(name, arguments, run_id=new_run_id(name), **hooks),
            task_status=task_status,
        )

    async def _follow(
        self,
        start: Callable[..., Awaitable[RunRecord]],
        *,
        task_status: TaskStatus[RunRecord],
    ) -> None:
        """Run ``start(on_start=, on_log=, on_session=)``, keeping the run's numbered log."""
        run_log: list[RunLog] = []

        def started(record: RunRecord) -> None:
            run_log.append(RunLog(record))
            for stamp, message in record.log:  # a resumed run's log so far
                run_log[0].line(stamp, message)
            self.logs[record.id] = run_log[0]
            task_status.started(record)

        try:
            await start(
                on_start=started,
                on_log=lambda stamp, message: run_log[0].line(stamp, message),
                on_session=lambda handle: run_log[0].session(handle),
            )
        except Exception:
            if not run_log:
                raise  # before it started: start() raises it to the request
            log.exception("workflow run %s", run_log[0].record.id)
        finally:
            if run_log:
                run_log[0].end(self._last_seqs(run_log[0].sessions))
                self._forget_old()

    def _last_seqs(self, handles: list[str]) -> dict[str, int]:
        seqs = {handle: self.runner.sessions.last_seq(handle) for handle in handles}
        return {handle: seq for handle, seq in seqs.items() if seq is not None}

    def _forget_old(self) -> None:
        ended = [run_id for run_id, run_log in self.logs.items() if run_log.ended]
        for run_id in ended[:-KEEP_ENDED]:
            del self.logs[run_id]

    def cancel(self, run_id: str) -> bool:
        """Cancel run ``run_id`` if it runs here; whether it did."""
        return self.runner.cancel(run_id)

    async def record(self, run_id: str) -> RunRecord:
        """The record of run ``run_id``: the live one if it is this daemon's, else the
        one on disk. Raises :class:`UnknownRun`."""
        live = self.logs.get(run_id)
        if live is not None:
            return live.record
        state_dir = self.runner.state_dir
        record = await anyio.to_thread.run_sync(load_run, state_dir, run_id)
        if record is None:
            raise UnknownRun(f"no workflow run {run_id!r}")
        return record

    async def wait(self, run_id: str) -> RunRecord:
        """Wait until run ``run_id`` of this daemon has ended; return its record."""
        live = self.logs.get(run_id)
        if live is not None:
            async for _ in live.follow(len(live.items)):
                pass
        else:  # a run an agent started through the MCP plane
            await self.runner.wait(run_id)
        return await self.record(run_id)

    def items(
        self, run_id: str, after: int, record: RunRecord, *, follow: bool = True
    ) -> AsyncGenerator[Item, None]:
        """The log of run ``run_id`` numbered above ``after``: live (with ``follow``,
        until the run ends) if the run is this daemon's, else replayed from ``record``."""
        live = self.logs.get(run_id)
        if live is not None:
            return live.follow(after) if follow else _from_list(live.items[after:])
        return _from_list(_replayed(record, after))

    def end_reason(self, run_id: str, record: RunRecord) -> str:
        """Why a run's log ended (the daemon's stop aside)."""
        live = self.logs.get(run_id)
        if (live is not None and live.ended) or record.status is not RunStatus.running:
            return "run ended"
        return "not run by this daemon"


async def _from_list(items: list[Item]) -> AsyncGenerator[Item, None]:
    for item in items:
        yield item
