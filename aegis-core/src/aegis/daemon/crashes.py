"""What a daemon that stopped unexpectedly (``kill -9``, a crash, a power cut) interrupted.

A running daemon keeps ``.aegis/daemon.json``: its pid, owner string and start
time, and its live sessions (rewritten as sessions start and end), and removes the
file when it stops in order. A daemon that finds the file as it starts knows that
its predecessor did not stop in order (the lock is the new daemon's: the writer is
dead). Once the runtime's own recovery has run (the predecessor's running queue
tasks are ended as failed, its workflow runs as crashed), the new daemon puts
together what was interrupted: the sessions the file names, and the tasks and runs
recovery ended that the predecessor owned. It logs it, shows it in its status
(``previous_crash``) for its whole life, and the client that started it prints
:func:`notice` once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aegis.private_files import write_private

if TYPE_CHECKING:
    from aegis.queue.task import TaskRecord
    from aegis.workflow.runner import RunRecord

STATE_NAME = "daemon.json"

Report = dict[str, Any]
"""``{"pid", "started_at", "sessions": [{"handle", "profile"}], "tasks": [{"id", "queue",
"status", "error"}], "runs": [{"id", "workflow", "status"}]}``."""


def state_path(state_dir: Path) -> Path:
    """``.aegis/daemon.json``: the running daemon's own record of itself."""
    return state_dir / STATE_NAME


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The record a daemon left (``None``: none, or unreadable). Blocking."""
    try:
        data = json.loads(state_path(state_dir).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_state(state_dir: Path, record: dict[str, Any]) -> None:
    """Replace the running daemon's record. Blocking."""
    write_private(state_path(state_dir), json.dumps(record))


def remove_state(state_dir: Path) -> None:
    """The daemon stopped in order: no record left. Blocking."""
    state_path(state_dir).unlink(missing_ok=True)


def report(previous: dict[str, Any], tasks: list[TaskRecord], runs: list[RunRecord]) -> Report:
    """What ``previous`` (a dead daemon's record) interrupted, of the ``tasks`` and
    ``runs`` recovery ended: those it owned."""
    owner = previous.get("owner")
    live = previous.get("live") or {}
    return {
        "pid": previous.get("pid"),
        "started_at": previous.get("started_at"),
        "sessions": [{"handle": h, "profile": p} for h, p in sorted(live.items())],
        "tasks": [
            {"id": t.id, "queue": t.queue, "status": t.status.value, "error": t.error}
            for t in tasks
            if t.owner == owner
        ],
        "runs": [
            {"id": r.id, "workflow": r.workflow, "status": r.status.value}
            for r in runs
            if r.owner == owner
        ],
    }


def _things(what: str, items: list[str]) -> str:
    return f"{what}{'' if len(items) == 1 else 's'} {', '.join(items)}"


def notice(crash: Report) -> str:
    """One line saying that the previous daemon stopped unexpectedly, and what it ran::

    the previous aegis daemon (pid 4242) stopped unexpectedly; interrupted: session
    glad-turing (offline); task 1m915ndj400cxc94 on work (failed)
    """
    parts = []
    if crash["sessions"]:
        parts.append(
            _things("session", [f"{s['handle']} ({s['profile']})" for s in crash["sessions"]])
        )
    if crash["tasks"]:
        parts.append(
            _things("task", [f"{t['id']} on {t['queue']} ({t['status']})" for t in crash["tasks"]])
        )
    if crash["runs"]:
        parts.append(_things("workflow run", [f"{r['id']} ({r['status']})" for r in crash["runs"]]))
    pid = f" (pid {crash['pid']})" if crash.get("pid") else ""
    what = f"interrupted: {'; '.join(parts)}" if parts else "nothing was running"
    return f"the previous aegis daemon{pid} stopped unexpectedly; {what}"
