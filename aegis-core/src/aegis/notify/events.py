"""The notifications aegis's own parts send: one function per event, shared by the senders.

The queue manager, the workflow runner and the session manager call these when a task
fails, a run ends and a session fails; they keep the wording in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aegis.notify.model import Notification
from aegis.text import clean_text

if TYPE_CHECKING:
    from aegis.queue.task import TaskRecord
    from aegis.session.info import SessionInfo
    from aegis.workflow.runner import RunRecord

BODY_LIMIT = 500
"""Characters of an error or result a notification's body carries at most."""


def _short(text: str | None) -> str:
    text = clean_text(text or "").strip()
    return text if len(text) <= BODY_LIMIT else text[: BODY_LIMIT - 1] + "…"


def task_failed(task: TaskRecord) -> Notification:
    """Task ``task`` ended ``failed``."""
    return Notification(
        kind="task_failed",
        title=f"task {task.id} on queue {task.queue} failed",
        body=_short(task.error),
        task_id=task.id,
        session=task.worker_handle,
        outcome="failed",
    )


def run_outcome(run: RunRecord) -> str:
    """``ok``, ``failed``, ``crashed``, or ``cancelled`` (by a person, or by aegis stopping)."""
    if run.error is not None and run.error.startswith("cancelled"):
        return "cancelled"
    return str(run.status)


def workflow_finished(run: RunRecord) -> Notification:
    """Run ``run`` ended, whichever way."""
    outcome = run_outcome(run)
    body = run.error if outcome != "ok" else (run.result if isinstance(run.result, str) else "")
    return Notification(
        kind="workflow_finished",
        title=f"workflow {run.workflow} {outcome}",
        body=_short(body),
        run_id=run.id,
        outcome=outcome,
    )


def session_failed(session: SessionInfo) -> Notification:
    """Session ``session`` ended in error (its CLI died, or would not start)."""
    return Notification(
        kind="session_failed",
        title=f"session {session.handle} failed",
        body=_short(session.error),
        session=session.handle,
        outcome="failed",
    )
