"""Running workflows: a run id, the engine, the outcome, and a run record on disk.

A run ends in one of three ways: ``ok`` (the function returned), ``failed`` (it
raised :class:`WorkflowError`: an expected failure) or ``crashed`` (any other
exception; its traceback is kept). Records live in ``.aegis/workflows/<run id>.json``.

A record says which process runs it (its ``owner``, as queue tasks do: see
:mod:`aegis.queue.owner`). A run whose process died without ending it (``kill
-9``, a crash, a power cut) would stay ``running`` forever: every runtime, on
start, ends such records as ``crashed`` (:meth:`WorkflowRunner.recover`).
"""

from __future__ import annotations

import inspect
import json
import logging
import secrets
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

import anyio

from aegis import hookspecs
from aegis.notify import events as notifications
from aegis.plugins import get_host
from aegis.private_files import private_dir, write_private
from aegis.queue.owner import current_owner, is_owner_alive
from aegis.text import clean_text
from aegis.workflow.engine import WorkflowEngine, now_iso
from aegis.workflow.errors import WorkflowError
from aegis.workflow.records import (
    STALE_RUN,
    RunRecord,
    RunStatus,
    load_run,
    load_runs,
    records_locked,
)
from aegis.workflow.registry import WorkflowFn, require_workflow

if TYPE_CHECKING:
    from aegis.canvas import CanvasRegistry
    from aegis.notify import Notifier
    from aegis.questions import Questions
    from aegis.usage.recorder import UsageRecorder

__all__ = [  # the records are re-exported: where they were, and where callers look
    "STALE_RUN",
    "NotResumable",
    "RunRecord",
    "RunStatus",
    "WorkflowRunner",
    "coerce_arguments",
    "load_run",
    "load_runs",
    "new_run_id",
]


class NotResumable(WorkflowError):
    """``resume`` was asked for a run that does not exist, ended ``ok``, or is running."""


def new_run_id(name: str) -> str:
    """``<UTC time>-<workflow>-<random>``: unique, readable, and sortable by start time."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{name}-{secrets.token_hex(2)}"


def coerce_arguments(fn: WorkflowFn, raw: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``--arg key=value`` strings into the types the workflow's signature declares."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())[1:]  # the first one is the engine
    by_name = {p.name: p for p in params}
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolvable annotations: keep strings
        hints = {}
    values: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in by_name and not accepts_any:
            names = ", ".join(p.name for p in params if p.kind is not p.VAR_KEYWORD) or "none"
            raise WorkflowError(f"unknown argument {key!r} (arguments: {names})")
        values[key] = _convert(key, text, hints.get(key, str))
    missing = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in values
    ]
    if missing:
        raise WorkflowError(f"missing argument(s): {', '.join(missing)} (use --arg name=value)")
    return values


def _convert(key: str, text: str, kind: Any) -> Any:
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind in (int, float):
            return kind(text)
    except ValueError:
        raise WorkflowError(f"argument {key!r}: {text!r} is not a valid {kind.__name__}") from None
    return text


class WorkflowRunner:
    """Runs workflows on a live runtime and keeps their run records."""

    def __init__(
        self,
        *,
        sessions: Any,
        queue_manager: Any,
        inbox_router: Any,
        state_dir: Path,
        drain_timeout: float = 30.0,
    ) -> None:
        self.sessions = sessions
        self.queue_manager = queue_manager
        self.inbox_router = inbox_router
        self.runs_dir = state_dir / "workflows"
        self.state_dir = state_dir
        self.drain_timeout = drain_timeout
        self.canvases: CanvasRegistry | None = None
        """The runtime's canvases, for the engines of its runs (the runtime sets it)."""
        self.notifier: Notifier | None = None
        """Told when a run ends, whichever way (the runtime sets it)."""
        self.questions: Questions | None = None
        """The runtime's questions to a person, for :meth:`WorkflowEngine.ask_human`."""
        self.usage: UsageRecorder | None = None
        """The runtime's usage recorder: runs count their spending and stop at their
        budget (the runtime sets it)."""
        self._running: dict[str, anyio.CancelScope] = {}
        self._ended: dict[str, anyio.Event] = {}
        self._failures: dict[str, WorkflowError] = {}

    @property
    def running(self) -> list[str]:
        """The ids of the runs running in this process now."""
        return list(self._running)

    def cancel(self, run_id: str) -> bool:
        """Stop run ``run_id`` if it runs in this process (its record ends ``failed``,
        error ``cancelled``); returns whether it was running here."""
        scope = self._running.get(run_id)
        if scope is None:
            return False
        scope.cancel()
        return True

    def fail(self, run_id: str, error: WorkflowError) -> bool:
        """Stop run ``run_id`` if it runs in this process; its record ends ``failed``
        with ``error`` (a budget reached, say). Returns whether it was running here."""
        scope = self._running.get(run_id)
        if scope is None:
            return False
        self._failures.setdefault(run_id, error)
        scope.cancel()
        return True

    async def run(
        self,
        name: str,
        arguments: Mapping[str, str] | None = None,
        *,
        caller_handle: str | None = None,
        on_log: Callable[[str, str], None] | None = None,
        run_id: str | None = None,
        on_start: Callable[[RunRecord], None] | None = None,
        on_session: Callable[[str], None] | None = None,
    ) -> RunRecord:
        """Run workflow ``name`` to its end and return its record (never raises for the
        workflow's own failures: they are in the record's status).

        ``on_start`` is called with the record once it is saved, before the workflow
        starts; ``on_log`` with each log line; ``on_session`` with the handle of each
        session of the run (see :attr:`WorkflowEngine.on_session`). The record is the
        live one: it changes as the run goes on.
        """
        fn = require_workflow(name)
        record = RunRecord(
            id=run_id or new_run_id(name),
            workflow=name,
            arguments={key: clean_text(value) for key, value in (arguments or {}).items()},
            caller_handle=caller_handle,
            owner=current_owner(),
        )
        return await self._execute(
            fn, record, on_log=on_log, on_start=on_start, on_session=on_session
        )

    async def resume(
        self,
        run_id: str,
        *,
        on_log: Callable[[str, str], None] | None = None,
        on_start: Callable[[RunRecord], None] | None = None,
        on_session: Callable[[str], None] | None = None,
    ) -> RunRecord:
        """Continue run ``run_id`` (failed, crashed or cancelled) from its checkpoints.

        The run keeps its id, arguments, caller, log and checkpoints; its ``attempt``
        goes up by one. The workflow function is called again with the same arguments,
        and :meth:`WorkflowEngine.resume_state` gives it the checkpoints, so that it
        skips the steps already done. Raises :class:`NotResumable` when there is no
        such run, it ended ``ok``, or it is running; :class:`WorkflowError` when its
        workflow no longer exists. Otherwise as :meth:`run`.
        """
        if run_id in self._running:
            raise NotResumable(f"run {run_id} is running")
        record, fn = await anyio.to_thread.run_sync(self._claim, run_id)
        done = list(record.checkpoints)
        return await self._execute(
            fn,
            record,
            on_log=on_log,
            on_start=on_start,
            on_session=on_session,
            resumed=f"resumed (attempt {record.attempt}); checkpoints: "
            + (", ".join(done) or "none"),
        )

    def _claim(self, run_id: str) -> tuple[RunRecord, WorkflowFn]:
        """Mark run ``run_id`` as running again, in this process, if it may be resumed;
        return it with its workflow.

        Under the records' lock, so that of two processes resuming one run at once the
        second finds it running (its owner alive) and is refused. Blocking.
        """
        with records_locked(self.state_dir):
            record = load_run(self.state_dir, run_id)
            if record is None:
                raise NotResumable(f"no workflow run {run_id!r}")
            if not record.resumable:
                raise NotResumable(
                    f"run {run_id} is {record.status.value}: only a failed, crashed or "
                    "cancelled run can be resumed"
                )
            fn = require_workflow(record.workflow)  # before it is marked: it may be gone
            record.status, record.error, record.traceback = RunStatus.running, None, None
            record.result, record.finished_at = None, None
            record.owner = current_owner()
            record.attempt += 1
            self._save(record)
            return record, fn

    async def wait(self, run_id: str) -> None:
        """Wait until run ``run_id`` has ended, if it runs in this process now."""
        ended = self._ended.get(run_id)
        if ended is not None:
            await ended.wait()

    async def _execute(
        self,
        fn: WorkflowFn,
        record: RunRecord,
        *,
        on_log: Callable[[str, str], None] | None,
        on_start: Callable[[RunRecord], None] | None,
        on_session: Callable[[str], None] | None,
        resumed: str | None = None,
    ) -> RunRecord:
        name = record.workflow
        if record.id in self._running:
            raise NotResumable(f"run {record.id} is running")
        engine = WorkflowEngine(
            workflow_name=name,
            workflow_run_id=record.id,
            bridge=self.sessions,
            queue_manager=self.queue_manager,
            inbox_router=self.inbox_router,
            caller_handle=record.caller_handle,
            state_dir=self.state_dir,
            now=now_iso,
            drain_timeout=self.drain_timeout,
        )
        engine.canvases = self.canvases
        engine.questions = self.questions
        engine.log_lines = list(record.log)  # a resumed run's log goes on
        engine.restore(record.checkpoints, attempt=record.attempt)

        async def checkpointed(name: str, payload: Any) -> None:
            record.checkpoints = dict(engine.resume_state())
            record.log = engine.log_lines
            await self._save_off_loop(record)

        engine.on_checkpoint = checkpointed

        def logged(stamp: str, message: str) -> None:
            record.log = engine.log_lines
            self._save(record)
            if on_log is not None:
                on_log(stamp, message)

        engine.on_log = logged
        engine.on_session = on_session
        self._save(record)  # a full disk refuses the run here, before anything is claimed
        ended = self._ended[record.id] = anyio.Event()
        self._running[record.id] = anyio.CancelScope()  # what cancel() stops
        usage = self.usage
        if usage is not None:

            def of_run(handle: str) -> None:
                usage.attribute(handle, run=record.id)
                if on_session is not None:
                    on_session(handle)

            async def before_spending() -> None:
                await usage.check_run(record.id, name)

            engine.on_session = of_run
            engine.before_spending = before_spending
            usage.watch_run(record.id, name, lambda error: self.fail(record.id, error))
        if on_start is not None:
            on_start(record)
        if resumed is not None:
            engine.log(resumed)
        get_host().notify(hookspecs.workflow_started, run=record)
        failure: BaseException | None = None

        try:
            with self._running[record.id] as scope:
                # Cancelled from outside too (a signal stops the whole process): then its
                # sessions' work is abandoned at once rather than drained for nobody.
                abandoned = True
                try:
                    values = coerce_arguments(fn, record.arguments)
                    if engine.before_spending is not None:
                        await engine.before_spending()  # a run over budget does not start
                    record.result = await fn(engine, **values)
                    abandoned = False
                except Exception as exc:
                    abandoned = False
                    failure = exc
                    record.traceback = traceback.format_exc()
                finally:
                    await engine.finish(cancelled=abandoned or scope.cancel_called)
            if scope.cancelled_caught:
                failure = self._failures.get(record.id) or WorkflowError("cancelled")
        except anyio.get_cancelled_exc_class():
            record.status, record.error = RunStatus.crashed, "cancelled: aegis stopped"
            record.log = engine.log_lines
            record.finished_at = time.time()
            self._save(record)
            self._finished(record)
            raise
        finally:
            self._running.pop(record.id, None)
            self._ended.pop(record.id, None)
            ended.set()
            self._failures.pop(record.id, None)
            if usage is not None:
                usage.unwatch_run(record.id)
        if failure is None:
            record.status = RunStatus.ok
        elif isinstance(failure, WorkflowError):
            record.status, record.error, record.traceback = RunStatus.failed, str(failure), None
        else:
            record.status = RunStatus.crashed
            record.error = f"{type(failure).__name__}: {failure}"
        record.log = engine.log_lines
        record.finished_at = time.time()
        self._save(record)
        self._finished(record)
        return record

    def _finished(self, record: RunRecord) -> None:
        get_host().notify(hookspecs.workflow_finished, run=record)
        if self.notifier is not None:
            self.notifier.send(notifications.workflow_finished(record))

    def recover(self) -> list[RunRecord]:
        """End as ``crashed`` the running records whose owner process is gone; return them.

        Blocking (it reads every record): call it off the event loop. Records
        without an owner (written before owners were recorded) are left alone.
        """
        recovered: list[RunRecord] = []
        if not self.runs_dir.is_dir():
            return recovered
        with records_locked(self.state_dir):  # not a run another process claims meanwhile
            for record in load_runs(self.state_dir):
                if record.status is not RunStatus.running or record.owner is None:
                    continue
                if is_owner_alive(record.owner):
                    continue
                record.status = RunStatus.crashed
                record.error = STALE_RUN
                record.finished_at = time.time()
                try:
                    self._save(record)
                except OSError:
                    logging.getLogger("aegis.workflow").exception(
                        "cannot end the stale run record %s", record.id
                    )
                    continue
                recovered.append(record)
        return recovered

    async def _save_off_loop(self, record: RunRecord) -> None:
        data = json.dumps(record.as_dict(), indent=1, default=str)  # as it is now
        await anyio.to_thread.run_sync(self._write, record.id, data)

    def _write(self, run_id: str, data: str) -> None:
        private_dir(self.runs_dir)
        write_private(self.runs_dir / f"{run_id}.json", data)

    def _save(self, record: RunRecord) -> None:
        private_dir(self.runs_dir)
        path = self.runs_dir / f"{record.id}.json"
        write_private(path, json.dumps(record.as_dict(), indent=1, default=str))
