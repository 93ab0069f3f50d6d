"""The WorkflowEngine: what a workflow function receives to drive agents, queues and the shell."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import os
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from aegis.workflow.errors import PredicateFailed, WorkflowError

if TYPE_CHECKING:
    from aegis.canvas import CanvasRegistry
    from aegis.questions import Questions
    from aegis.queue.task import TaskRecord
    from aegis.session.group import GroupReply
    from aegis.session.info import SessionInfo
    from aegis.workspace import LandResult, WorktreeRecord

log = logging.getLogger("aegis.workflow")


def _default_folder() -> Path:
    """``find_project_root()``, or else the current directory (``bash``'s default ``cwd``)."""
    from aegis.project_files import find_project_root

    return find_project_root() or Path.cwd()


def now_iso() -> str:
    """The current time, ISO 8601 in UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


RetryWith = Callable[[subprocess.CompletedProcess[str]], str | Awaitable[str]]
"""What makes :meth:`WorkflowEngine.bash_predicate`'s message from a failed check."""

MAX_FEEDBACK_CHARS = 4000
"""How much of a failed check's output ``{output}`` (and ``{stdout}``, ``{stderr}``) keep:
the end, where a test runner's summary is."""

_PLACEHOLDER = re.compile(r"\{(cmd|exit|stdout|stderr|output|attempt|max_retries)\}")


async def _retry_message(
    retry_with: str | RetryWith,
    result: subprocess.CompletedProcess[str],
    attempt: int,
    max_retries: int,
) -> str:
    if not isinstance(retry_with, str):
        made = retry_with(result)
        if inspect.isawaitable(made):
            made = await made
        if not isinstance(made, str):
            raise TypeError(f"retry_with returned {type(made).__name__}, not the message (str)")
        return made
    values = {
        "cmd": str(result.args),
        "exit": str(result.returncode),
        "stdout": result.stdout[-MAX_FEEDBACK_CHARS:],
        "stderr": result.stderr[-MAX_FEEDBACK_CHARS:],
        "output": (result.stdout + result.stderr)[-MAX_FEEDBACK_CHARS:],
        "attempt": str(attempt),
        "max_retries": str(max_retries),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], retry_with)


class WorkflowEngine:
    """Runtime handle a workflow receives as its first positional argument.

    Constructed once per workflow run and bound to the live aegis runtime (the
    session bridge, the QueueManager and the InboxRouter). It tracks the handles
    the workflow spawned (closed when the run ends) and the handles it touched
    (drained when the run ends).
    """

    def __init__(
        self,
        *,
        workflow_name: str,
        workflow_run_id: str,
        bridge: Any,
        queue_manager: Any,
        inbox_router: Any,
        caller_handle: str | None = None,
        state_dir: Path | None = None,
        now: Callable[[], str] = now_iso,
        drain_timeout: float = 30.0,
    ) -> None:
        self.workflow_name = workflow_name
        self.workflow_run_id = workflow_run_id
        self.caller_handle = caller_handle
        self.state_dir = state_dir
        self.log_lines: list[tuple[str, str]] = []
        """``(timestamp, message)`` of every :meth:`log` call, in order."""
        self.on_log: Callable[[str, str], None] | None = None
        """Called with ``(timestamp, message)`` on each log line (progress views)."""
        self.on_session: Callable[[str], None] | None = None
        """Called with the handle of each session of this run: one it spawned, or the
        worker of a task it delegated (progress views follow their events)."""
        self._bridge = bridge
        self._queues = queue_manager
        self._inbox = inbox_router
        self._now = now
        self._drain_timeout = drain_timeout
        self._spawned_handles: list[str] = []
        self._touched_handles: list[str] = []
        self._deliveries: set[asyncio.Task[None]] = set()
        self._last_delivery: asyncio.Task[None] | None = None
        self._delegated: set[str] = set()
        self.before_spending: Callable[[], Awaitable[None]] | None = None
        """Awaited before the run spawns, asks or delegates: raises
        :class:`~aegis.workflow.errors.WorkflowBudgetExceeded` once the run's budget
        is reached (set by the runner)."""
        self.canvases: CanvasRegistry | None = None
        """The runtime's shared canvases (set by the runner; ``None`` outside a runtime)."""
        self.questions: Questions | None = None
        """The runtime's questions to a person (set by the runner; ``None`` outside a runtime)."""
        self._asked: list[str] = []
        """The ids of the questions :meth:`ask_human` asked (or found again) in this attempt."""
        """Tasks :meth:`delegate` waits for now (cancelled with a cancelled run)."""
        self.attempt = 1
        """Which attempt at this run this is: 1, then 2 after ``aegis workflow resume``…"""
        self.on_checkpoint: Callable[[str, Any], Awaitable[None]] | None = None
        """Awaited with ``(name, payload)`` on each :meth:`checkpoint` (the runner keeps
        it in the run record on disk before :meth:`checkpoint` returns)."""
        self._checkpoints: dict[str, Any] = {}

    @property
    def sender(self) -> str:
        """How this run's messages are tagged: ``workflow:<run id>``."""
        return f"workflow:{self.workflow_run_id}"

    async def _may_spend(self) -> None:
        if self.before_spending is not None:
            await self.before_spending()

    def _touch(self, handle: str) -> None:
        if handle not in self._touched_handles:
            self._touched_handles.append(handle)

    # --- sessions -------------------------------------------------------------------------

    async def spawn(
        self, profile: str, *, handle: str | None = None, workspace: str | None = None
    ) -> str:
        """Spawn a long-lived agent through the bridge and return its handle.

        The session is closed when the workflow exits. ``workspace="worktree"`` gives
        it a git worktree and branch of its own whatever its profile says (see
        :meth:`land`).
        """
        await self._may_spend()
        try:
            handle = await self._bridge.spawn(
                profile,
                handle,
                workspace=workspace,
                started_by=self.sender,
            )
        except Exception as exc:
            raise WorkflowError(f"could not spawn {profile!r}: {exc}") from exc
        self._spawned_handles.append(handle)
        self._touch(handle)
        self.log(f"spawned {handle} ({profile})")
        self._session_of_run(handle)
        return handle

    def _session_of_run(self, handle: str) -> None:
        if self.on_session is not None:
            self.on_session(handle)

    def send(self, handle: str, message: str) -> None:
        """Put a message tagged ``workflow:<run id>`` in ``handle``'s inbox. Returns at once.

        Delivery is scheduled as a task of the running event loop, which inherits the
        calling context (context variables set before ``send`` are visible while the
        message is delivered). Messages are delivered in the order they were sent;
        :meth:`drain` waits for them to be delivered and dealt with. A handle that no
        session ever had raises :class:`WorkflowError` right away.
        """
        if not self._bridge.known(handle):
            raise WorkflowError(f"cannot send to {handle!r}: no session has that handle")
        self._touch(handle)
        # The task is owned by this engine: drain() and finish() wait for it, and finish()
        # cancels whatever a hung delivery left behind.
        task = asyncio.get_running_loop().create_task(
            self._deliver(handle, message, self._last_delivery)
        )
        self._last_delivery = task
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, handle: str, message: str, after: asyncio.Task[None] | None) -> None:
        if after is not None:
            await asyncio.wait([after])  # order; its outcome is its own to report
        try:
            if self._inbox is not None:
                await self._inbox.deliver(handle, message, self.sender)
            else:
                self._bridge.send(handle, message, sender=self.sender)
        except Exception as exc:
            self.log(f"warning: message to {handle} not delivered: {exc}")

    async def ask(self, handle: str, message: str) -> str:
        """Send ``message`` to live session ``handle`` and return its final answer.

        Raises :class:`WorkflowError` when the turn fails.
        """
        await self._may_spend()
        self._touch(handle)
        try:
            end = await self._bridge.request(handle, message, sender=self.sender)
        except Exception as exc:
            raise WorkflowError(f"could not ask {handle}: {exc}") from exc
        if not end.ok:
            raise WorkflowError(f"{handle} did not answer: {end.error or end.stop_reason.value}")
        return str(end.text)

    async def group(
        self,
        handles: Sequence[str],
        message: str,
        *,
        wait: Literal["all", "first"] = "all",
        max_concurrency: int | None = None,
        timeout: float | None = None,
    ) -> list[GroupReply]:
        """Send ``message`` to each live session of ``handles`` and return their replies,
        in the order of ``handles``: a :class:`~aegis.session.group.GroupReply` each
        (``ok``, ``text`` its final text of the turn, ``status``, ``error``).

        ``wait="first"`` returns at the first successful answer (the other turns are
        stopped; targets not yet sent to are ``skipped``). ``max_concurrency`` sends to
        at most that many at a time. ``timeout`` (seconds, for the whole group) stops
        the turns still running; their replies say ``timeout``. A failed turn is a
        reply with status ``failed``, not an exception. Raises :class:`WorkflowError`,
        sending nothing, when a handle is not a live session or is repeated.
        """
        from aegis.session.group import GroupError, ask_group

        try:
            replies = await ask_group(
                self._bridge,
                list(handles),
                message,
                sender=self.sender,
                wait=wait,
                max_concurrency=max_concurrency,
                timeout=timeout,
            )
        except GroupError as exc:
            raise WorkflowError(f"cannot send the group: {exc}") from None
        for handle in handles:
            self._touch(handle)
        answered = sum(reply.ok for reply in replies)
        self.log(f"group of {len(replies)}: {answered} answered")
        return replies

    async def drain(self, handle: str | None = None) -> None:
        """Wait for each touched session (or just ``handle``) to be ready with nothing queued.

        Each handle gets at most ``drain_timeout`` seconds; on timeout a warning is
        logged and the drain goes on, so a hung agent cannot trap the workflow.
        """
        if not await self._flush_sends():
            self.log(
                f"warning: messages still undelivered after {self._drain_timeout:g}s; going on"
            )
        for target in [handle] if handle is not None else list(self._touched_handles):
            try:
                idle = await self._bridge.drain(target, timeout=self._drain_timeout)
            except LookupError:
                continue
            if not idle:
                self.log(f"warning: {target} still busy after {self._drain_timeout:g}s; going on")

    async def _flush_sends(self) -> bool:
        """Wait (at most ``drain_timeout``) until every sent message was handed over."""
        with anyio.move_on_after(self._drain_timeout):
            while self._deliveries:
                await asyncio.wait(set(self._deliveries))
            return True
        return False

    async def close(self, handle: str) -> None:
        """Close a long-lived agent this engine spawned. Idempotent.

        A handle this engine did not spawn (unknown, already closed, or a session the
        workflow only sent to, such as its caller's) is left alone.
        """
        if handle not in self._spawned_handles:
            return
        self._spawned_handles.remove(handle)
        try:
            await self._bridge.close(handle)
        except LookupError:
            return
        self.log(f"closed {handle}")

    async def finish(self, *, cancelled: bool = False) -> None:
        """Drain every touched handle, then close every handle this run spawned.

        ``cancelled`` (the run was cancelled): first drop the messages not yet
        delivered, cancel the tasks :meth:`delegate` waits for (their workers stop) and
        interrupt the turns of the sessions this run spawned, so that draining does not
        wait for work nobody will use.
        """
        with anyio.CancelScope(shield=True):
            if cancelled:
                await self._abandon()
            await self.drain()
            for handle in list(self._spawned_handles):
                await self.close(handle)
            for task in list(self._deliveries):  # hung past drain_timeout
                task.cancel()

    async def _abandon(self) -> None:
        for delivery in list(self._deliveries):
            delivery.cancel()
        for task_id in list(self._delegated):
            try:
                with anyio.move_on_after(self._drain_timeout):
                    await self._queues.cancel(task_id)
            except Exception as exc:
                self.log(f"warning: could not cancel task {task_id}: {exc}")
        for handle in self._spawned_handles:
            try:
                await self._bridge.interrupt(handle)
            except Exception as exc:  # ended, or its CLI does not answer: closing will do
                log.debug("interrupting %s: %s", handle, exc)

    # --- checkpoints -----------------------------------------------------------------------

    async def checkpoint(self, name: str, payload: Any = None) -> None:
        """Record that step ``name`` is done, with ``payload`` (what later steps need of it).

        The checkpoint is kept in the run record on disk (``.aegis/workflows/<run>.json``)
        before this returns. When the run is resumed (``aegis workflow resume RUN``), the
        workflow function is called again with the same arguments and
        :meth:`resume_state` gives it back every checkpoint, so it can skip the steps
        already done. A checkpoint of the same ``name`` replaces the earlier one.

        ``payload`` must be JSON-serialisable (dicts, lists, strings, numbers, booleans,
        ``None``); anything else raises :class:`TypeError` saying what is wrong. What
        :meth:`resume_state` returns is the payload as JSON gives it back (a tuple comes
        back as a list), in this process as after a restart.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"checkpoint names are non-empty strings, not {name!r}")
        try:
            text = json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"checkpoint {name!r}: its payload is not JSON-serialisable ({exc}); "
                "give dicts, lists, strings, numbers, booleans or None"
            ) from None
        stored = json.loads(text)
        self._checkpoints.pop(name, None)  # the latest last, as resume_state lists them
        self._checkpoints[name] = stored
        if self.on_checkpoint is not None:
            await self.on_checkpoint(name, stored)
        self.log(f"checkpoint {name}")

    def resume_state(self) -> dict[str, Any]:
        """The checkpoints of this run so far, ``{name: payload}`` in the order they were made.

        Empty on a fresh run; on a resumed run (:attr:`attempt` > 1) it holds the
        checkpoints of the earlier attempts, which the workflow uses to skip what is
        done::

            done = engine.resume_state()
            for step in ("build", "test", "publish"):
                if step not in done:
                    await run_step(engine, step)
                    await engine.checkpoint(step, {"ok": True})

        The result is a copy: changing it changes no checkpoint.
        """
        return json.loads(json.dumps(self._checkpoints))  # type: ignore[no-any-return]

    def restore(self, checkpoints: dict[str, Any], *, attempt: int) -> None:
        """Start from the checkpoints of earlier attempts of this run (the runner's resume)."""
        self._checkpoints = dict(checkpoints)
        self.attempt = attempt

    # --- queues ---------------------------------------------------------------------------

    async def delegate(self, queue: str, payload: str) -> str:
        """Enqueue a one-shot task on ``queue``, wait for it, and return the worker's final text.

        Raises :class:`WorkflowError` on an unknown queue, a failed worker, or an
        error of the runtime.
        """
        task = await self.delegate_task(queue, payload)
        return str(task.result or "")

    async def delegate_task(self, queue: str, payload: str) -> TaskRecord:
        """:meth:`delegate`, returning the whole task: its ``result``, its ``id``, and its
        ``workspace`` (``branch``, ``folder``, diff ``stat``) when the queue's workers
        have worktrees, for :meth:`land` or :meth:`discard`."""
        known = getattr(self._queues, "queues", None)
        if known is not None and queue not in known:
            raise WorkflowError(f"unknown queue {queue!r} (queues: {', '.join(known) or 'none'})")
        await self._may_spend()
        try:
            task_id = await self._queues.enqueue(queue, payload, sender=self.sender)
            self.log(f"delegated {task_id} to queue {queue}")
            self._delegated.add(task_id)
            if self.on_session is None:
                task = await self._queues.wait(task_id)
            else:
                task = await self._queues.wait(task_id, on_worker=self._session_of_run)
            self._delegated.discard(task_id)
        except WorkflowError:
            raise
        except Exception as exc:
            raise WorkflowError(f"delegating to queue {queue!r} failed: {exc}") from exc
        if task.status.value != "done":
            raise WorkflowError(
                f"task {task_id} on queue {queue!r} {task.status.value}: {task.error}"
            )
        return task  # type: ignore[no-any-return]

    # --- worktrees ----------------------------------------------------------------------

    async def worktree(self, target: str) -> WorktreeRecord:
        """The git worktree of session ``target`` (or of the worker of task ``target``):
        its ``branch``, ``path``, ``cwd`` (where to run checks), ``base`` and ``state``."""
        worktrees = getattr(self._bridge, "worktrees", None)
        if worktrees is None:
            raise WorkflowError("this runtime has no worktrees")
        record = await anyio.to_thread.run_sync(worktrees.of_session, target)
        if record is None and self._queues is not None:
            task = await self._queues.get(target)
            if task is not None and task.worker_handle:
                record = await anyio.to_thread.run_sync(worktrees.of_session, task.worker_handle)
        if record is None:
            raise WorkflowError(f"{target!r} has no worktree (is its workspace 'worktree'?)")
        return record  # type: ignore[no-any-return]

    async def diff(self, target: str) -> str:
        """The diff of what session (or task) ``target`` changed against its base."""
        record = await self.worktree(target)
        return await self._bridge.worktrees.diff(record)  # type: ignore[no-any-return]

    async def land(
        self, target: str, strategy: str = "merge", *, message: str | None = None
    ) -> LandResult:
        """Land the branch of session (or task) ``target`` into its base: ``strategy`` is
        ``merge``, ``squash`` or ``rebase``. A session this run spawned is closed first.

        Raises :class:`WorkflowError` on a conflict; the base and the branch are then
        as they were (see :mod:`aegis.workspace.land`).
        """
        from aegis.workspace import WorkspaceError
        from aegis.workspace import land as land_branch

        await self.close(target)
        record = await self.worktree(target)
        try:
            result = await land_branch(self._bridge.worktrees, record, strategy, message=message)
        except WorkspaceError as exc:
            raise WorkflowError(f"could not land {record.branch}: {exc.message}") from exc
        self.log(f"landed {record.branch} into {record.base}: {result.stat.summary()}")
        return result

    async def discard(self, target: str) -> None:
        """Delete the worktree and branch of session (or task) ``target``, changes and all.
        A session this run spawned is closed first."""
        from aegis.workspace import WorkspaceError
        from aegis.workspace import discard as discard_branch

        await self.close(target)
        record = await self.worktree(target)
        if record.state.value in ("removed", "discarded", "landed"):
            return
        try:
            await discard_branch(self._bridge.worktrees, record)
        except WorkspaceError as exc:
            raise WorkflowError(f"could not discard {record.branch}: {exc.message}") from exc
        self.log(f"discarded {record.branch}")

    # --- the shell --------------------------------------------------------------------------

    async def bash(
        self,
        cmd: str,
        *,
        cwd: str | Path | None = None,
        timeout: float | None = None,
        env: dict[str, Any] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` with ``/bin/sh``; return its exit status and output.

        ``cwd`` defaults to the project root (:func:`~aegis.config.find_project_root`),
        or the current directory outside a project. ``env`` is added to the process's
        environment (values are turned into strings). ``timeout=None`` waits forever; on
        timeout the command's whole process group is killed and
        :class:`WorkflowError` is raised. A non-zero exit status is not an error:
        check ``returncode``.
        """
        folder = Path(cwd) if cwd is not None else await anyio.to_thread.run_sync(_default_folder)
        full_env = {**os.environ, **{key: str(value) for key, value in (env or {}).items()}}
        started = time.monotonic()
        process = await anyio.open_process(
            ["/bin/sh", "-c", cmd],
            cwd=folder,
            env=full_env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        out: list[bytes] = []
        err: list[bytes] = []

        async def read(stream: Any, into: list[bytes]) -> None:
            async for chunk in stream:
                into.append(chunk)

        try:
            with anyio.fail_after(math.inf if timeout is None else timeout):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read, process.stdout, out)
                    tg.start_soon(read, process.stderr, err)
                    await process.wait()
        except TimeoutError:
            raise WorkflowError(f"bash timed out after {timeout:g}s: {cmd}") from None
        finally:
            with anyio.CancelScope(shield=True):
                from aegis.process import kill_group

                kill_group(process.pid, signal.SIGKILL)
                await process.aclose()
        self.log(f"bash ({time.monotonic() - started:.1f}s, exit {process.returncode}): {cmd}")
        return subprocess.CompletedProcess(
            cmd,
            process.returncode if process.returncode is not None else -1,
            b"".join(out).decode("utf-8", "replace"),
            b"".join(err).decode("utf-8", "replace"),
        )

    async def bash_predicate(
        self,
        cmd: str,
        retry_with: str | RetryWith,
        max_retries: int = 3,
        *,
        handle: str,
        cwd: str | Path | None = None,
        timeout: float | None = None,
        env: dict[str, Any] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the check ``cmd`` until it passes, sending each failure to session ``handle``.

        ``cmd`` runs as :meth:`bash` runs it (``cwd``, ``timeout``, ``env``), in the
        project's root (:attr:`project_root`, where agents work) unless ``cwd`` says
        otherwise. When it exits
        0 its result is returned. Otherwise the failure goes to ``handle`` — the agent
        doing the work, named by the caller — as one turn, and once the agent has
        answered the check runs again; at most ``max_retries`` times. ``retry_with`` makes
        the message:

        * a template: ``{cmd}``, ``{exit}``, ``{stdout}``, ``{stderr}``, ``{output}``
          (stdout then stderr, its last 4000 characters), ``{attempt}`` (1 for the first
          failure) and ``{max_retries}`` are filled in; other braces stay as they are;
        * or a callable given the failed :class:`subprocess.CompletedProcess`, returning
          the message (or an awaitable of it).

        Raises :class:`~aegis.workflow.errors.PredicateFailed` (a
        :class:`WorkflowError`) with the last result when the check still fails after
        ``max_retries`` retries, and :class:`WorkflowError` when ``handle`` cannot take
        the message (unknown, closed, or its turn failed)::

            worker = await engine.spawn("dev")
            await engine.ask(worker, "Make the tests pass.")
            await engine.bash_predicate(
                "pytest -q", "The tests still fail:\n{output}\nFix them.", handle=worker
            )
        """
        if max_retries < 0:
            raise WorkflowError("max_retries must be 0 or more")
        if not self._bridge.known(handle):
            raise WorkflowError(f"bash_predicate: no session has the handle {handle!r}")
        folder = cwd if cwd is not None else self.project_root
        attempt = 0
        while True:
            result = await self.bash(cmd, cwd=folder, timeout=timeout, env=env)
            if result.returncode == 0:
                if attempt:
                    self.log(f"check passed after {attempt} retr{'y' if attempt == 1 else 'ies'}")
                return result
            if attempt == max_retries:
                raise PredicateFailed(cmd, result, max_retries)
            attempt += 1
            message = await _retry_message(retry_with, result, attempt, max_retries)
            self.log(f"check failed (exit {result.returncode}): retry {attempt} by {handle}")
            await self.ask(handle, message)

    @property
    def project_root(self) -> Path:
        """The root of the project this engine's sessions belong to (where ``.aegis.py``
        is); outside a runtime, :func:`~aegis.config.find_project_root` or else the
        current directory."""
        root = getattr(self._bridge, "root", None)
        if isinstance(root, Path):
            return root
        return _default_folder()

    # --- canvases ----------------------------------------------------------------------------

    def _canvases(self) -> CanvasRegistry:
        if self.canvases is None:
            raise WorkflowError("canvases need a runtime: run the workflow with aegis")
        return self.canvases

    async def canvas_open(self, name: str, *, path: str | None = None) -> str:
        """Bind canvas ``name`` to a Markdown file (``path`` in the project, default
        ``.aegis/canvases/<name>.md``), created if missing; returns the file's path."""
        from aegis.canvas import CanvasError

        try:
            info = await self._canvases().open(name, by=self.sender, path=path)
        except CanvasError as exc:
            raise WorkflowError(str(exc)) from None
        return info.path

    async def canvas_list(self) -> list[str]:
        """The names of the project's canvases."""
        return [info.name for info in await self._canvases().list()]

    async def canvas_read(self, name: str, section: str | None = None) -> str:
        """Canvas ``name`` as it is on disk, or one section's body (``""``: the text
        before the first ``## `` heading)."""
        from aegis.canvas import CanvasError

        try:
            return await self._canvases().read(name, section)
        except CanvasError as exc:
            raise WorkflowError(str(exc)) from None

    async def canvas_write(self, name: str, section: str, text: str) -> None:
        """Replace section ``section`` of canvas ``name`` (added when missing), as this run
        (``workflow:<run>``); subscribers are told."""
        from aegis.canvas import CanvasError

        try:
            await self._canvases().write(name, section, text, by=self.sender)
        except CanvasError as exc:
            raise WorkflowError(str(exc)) from None

    async def canvas_append(self, name: str, section: str, text: str) -> None:
        """Add ``text`` at the end of section ``section`` of canvas ``name``, as this run."""
        from aegis.canvas import CanvasError

        try:
            await self._canvases().append(name, section, text, by=self.sender)
        except CanvasError as exc:
            raise WorkflowError(str(exc)) from None

    # --- a person in the loop ------------------------------------------------------------

    async def ask_human(
        self,
        question: str,
        options: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> str:
        """Put ``question`` to a person and return their answer.

        The question is kept in ``.aegis/questions.db`` and listed by ``aegis
        questions``, the TUI and ``GET /v1/questions``; a person answers with ``aegis
        answer ID TEXT`` (the first answer wins). With ``options``, the answer is one
        of them, as spelled there. ``timeout`` (seconds; ``None`` waits for ever): no
        answer by then raises :class:`WorkflowError`, as does a question that
        cannot be asked. A resumed run (``aegis workflow resume``) that asks again a
        question of its earlier attempt (same text, same options) gets the answer given
        to it, even while the run was not running, or waits for it: it is not asked twice.
        """
        from aegis.questions import QuestionError, QuestionStatus

        if self.questions is None:
            raise WorkflowError("ask_human needs a runtime: run the workflow with aegis")
        started = time.time()
        try:
            asked = await self.questions.ask_again(
                self.sender,
                question,
                options=options,
                timeout=timeout,
                seq=len(self._asked) + 1,
                taken=self._asked,
            )
        except QuestionError as exc:
            raise WorkflowError(f"could not ask a person: {exc}") from None
        self._asked.append(asked.id)
        if asked.asked_at >= started:
            self.log(f"asked a person ({asked.id}): {asked.question}")
        else:
            self.log(f"{asked.id} asked before this attempt: {asked.question}")
        try:
            settled = await self.questions.wait(asked.id)
        finally:
            # Nobody will read an answer given after this run stopped waiting.
            with anyio.CancelScope(shield=True):
                await self.questions.settle(asked.id, QuestionStatus.cancelled)
        if settled.status is QuestionStatus.answered:
            self.log(f"{settled.id} answered by {settled.answered_by}: {settled.answer}")
            return str(settled.answer)
        if settled.status is QuestionStatus.expired:
            waited = (settled.deadline or settled.asked_at) - settled.asked_at
            raise WorkflowError(
                f"question {settled.id} got no answer within {waited:g}s: {settled.question}"
            )
        raise WorkflowError(f"question {settled.id} was cancelled: {settled.question}")

    # --- information ------------------------------------------------------------------------

    def log(self, message: str) -> None:
        """Add a line to this run's log (kept in its run record and shown live)."""
        stamp = self._now()
        self.log_lines.append((stamp, message))
        log.info("[%s] %s", self.workflow_run_id, message)
        if self.on_log is not None:
            self.on_log(stamp, message)

    def list_sessions(self) -> list[SessionInfo]:
        """Every session of the runtime, with its state."""
        return list(self._bridge.list_sessions())

    def list_agents(self) -> list[str]:
        """The names of the agent profiles."""
        return sorted(self._bridge.agents)
