"""Reliability of the durable queues across a `kill -9` of `aegis serve`.

100 tasks are queued with callbacks to an agent; `aegis serve` runs some of them and
is killed with SIGKILL while others run; a second `aegis serve` finishes the work.
Every task ends exactly once, every callback lands exactly once, and max_parallel is
never exceeded.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from aegis.queue.backend import INTERRUPTED
from aegis.queue.sqlite_backend import SqliteQueueBackend
from aegis.queue.task import TaskRecord, TaskStatus
from aegis.testing.processes import wait_gone
from tests.e2e.test_exit_paths import processes_in
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.waiting import wait_until

TASKS = 100
MAX_PARALLEL = 4

CONFIG = f"""
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue

agents = {{
    "worker": Agent(provider=Scripted(rules=[
        ScriptRule(match="task (\\\\d+)", reply="finished task {{1}}", delay=0.2),
    ])),
}}
default_agent = "worker"
queues = [Queue("work", agent_profile="worker", max_parallel={MAX_PARALLEL})]
"""


def serve(project: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(AEGIS), "serve"],
        cwd=project,
        env=clean_env(home=project),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def max_overlap(tasks: list[TaskRecord]) -> int:
    edges = sorted(
        [(t.started_at, 1) for t in tasks if t.started_at is not None]
        + [(t.finished_at, -1) for t in tasks if t.finished_at is not None]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.slow
def test_kill_9_of_serve_loses_no_task_and_duplicates_no_callback(tmp_path: Path) -> None:
    project = tmp_path
    (project / ".aegis.py").write_text(CONFIG)
    state = project / ".aegis"
    (state / "sessions" / "boss").mkdir(parents=True)  # the agent the callbacks go to
    backend = SqliteQueueBackend.for_state_dir(state)
    ids = [
        backend.add("work", f"task {n}", sender="agent:boss", callback=True).id
        for n in range(TASKS)
    ]

    def counts() -> dict[str, int]:
        return backend.counts().get("work", {})

    first = serve(project)
    try:
        wait_until(
            lambda: counts().get("done", 0) >= 10 and counts().get("running", 0) >= 1,
            120,
            "some tasks done and some running",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    running_at_kill = {t.id for t in backend.list(status=TaskStatus.running, limit=None)}
    assert running_at_kill, "the kill should catch tasks mid-run"
    # Orphaned workers see their stdin close and leave.
    assert wait_gone(processes_in(project), timeout=20) == []

    second = serve(project)
    try:
        wait_until(
            lambda: counts().get("queued", 0) == 0 and counts().get("running", 0) == 0,
            240,
            "every task to end",
        )
        # Callbacks are delivered after the tasks end: wait for the outbox to empty.
        wait_until(lambda: not backend.pending_callbacks(), 30, "every callback")
    finally:
        second.send_signal(signal.SIGTERM)
        err = second.communicate(timeout=30)[1]
    assert second.returncode == 0, err

    tasks = {t.id: t for t in backend.list(queue="work", limit=None)}
    assert sorted(tasks) == sorted(ids)  # none lost, none added
    interrupted = {i for i, t in tasks.items() if t.status is TaskStatus.failed}
    assert interrupted == running_at_kill
    assert all(tasks[i].error == INTERRUPTED for i in interrupted)
    done = [t for t in tasks.values() if t.status is TaskStatus.done]
    assert len(done) == TASKS - len(interrupted)
    assert all(t.result == f"finished {t.payload}" for t in done)
    assert max_overlap(done) <= MAX_PARALLEL

    with sqlite3.connect(state / "inbox.db") as db:
        rows = db.execute(
            "SELECT key, COUNT(*), MIN(handle), MIN(sender), MIN(message) FROM messages "
            "GROUP BY key"
        ).fetchall()
    per_task = {key.removeprefix("callback:"): row for key, *row in rows}
    assert sorted(per_task) == sorted(ids)  # every callback landed...
    assert {count for count, *_ in per_task.values()} == {1}  # ...exactly once
    assert {(handle, sender) for _, handle, sender, _ in per_task.values()} == {
        ("boss", "queue:work")
    }
    for task_id in interrupted:
        assert "interrupted" in per_task[task_id][3]
    assert os.path.exists(state / "queue.db")
