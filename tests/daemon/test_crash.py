"""kill -9 of the daemon: the next client starts a new one, crash recovery runs, and no
agent process is left behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient, Numbered, StreamEnd
from aegis.daemon.launch import connect
from aegis.events import TurnEnd
from aegis.queue.backend import INTERRUPTED
from aegis.session.transcript import MAX_LAG_S
from aegis.testing.processes import alive, wait_gone
from tests.daemon.conftest import aegis, daemon_pid, make_project, start_daemon, stop_daemon
from tests.e2e.test_exit_paths import processes_in
from tests.support.waiting import wait_until


def test_after_kill_9_the_next_client_starts_a_daemon_that_recovers(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    state = project / ".aegis"
    first = start_daemon(project)
    try:

        async def before() -> tuple[str, str]:
            daemon = DaemonClient(state)
            handle = (await daemon.spawn("offline")).handle
            await daemon.send(handle, "hello")
            with anyio.fail_after(60):
                async for item in daemon.events(handle):
                    if isinstance(item, Numbered) and isinstance(item.event, TurnEnd):
                        break
            task = await daemon.enqueue("work", "slow")
            with anyio.fail_after(60):
                while (task := await daemon.task(task["id"]))["status"] != "running" or not (
                    task["worker_handle"]
                ):
                    await anyio.sleep(0.05)
            await anyio.sleep(MAX_LAG_S + 0.5)  # what a kill -9 may lose of a transcript
            return handle, task["id"], task["worker_handle"]

        handle, task_id, worker = anyio.run(before)
        agents = processes_in(project, exclude=first)
        assert len(agents) >= 2  # the session's agent and the task's worker
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: not alive(first), 30, "the daemon to die")
        # Orphaned agents see their stdin close and leave.
        assert wait_gone(agents, timeout=30) == []

        # The next client starts a daemon, and says what the dead one interrupted.
        asked = aegis(project, "ask", "offline", "hello")
        assert asked.returncode == 0 and asked.stdout == "hi there\n", asked.stderr
        live = ", ".join(f"{h} (offline)" for h in sorted([handle, worker]))
        notice = (
            f"the previous aegis daemon (pid {first}) stopped unexpectedly; interrupted: "
            f"sessions {live}; task {task_id} on work (failed)"
        )
        assert asked.stderr.splitlines() == [notice]
        assert aegis(project, "ask", "offline", "hello").stderr == ""  # said once
        assert f"started after a crash: {notice}" in aegis(project, "daemon", "status").stdout

        async def after() -> None:
            with anyio.fail_after(120):
                daemon = await connect(project / ".aegis.py", state, name="test")
            status = await daemon.status()
            assert status["pid"] != first
            task = await daemon.task(task_id)
            assert task["status"] == "failed" and task["error"] == INTERRUPTED
            assert status["tasks"] == {"queued": 0, "running": 0}
            # The dead daemon's session is gone, its transcript is not.
            replayed = [i async for i in daemon.events(handle)]
            assert isinstance(replayed[-1], StreamEnd)
            texts = [i.event for i in replayed if isinstance(i, Numbered)]
            assert any(getattr(e, "text", None) == "hi there" for e in texts)

        anyio.run(after)
        assert daemon_pid(project) not in (None, first)
    finally:
        stop_daemon(project)
    assert processes_in(project) == []


def test_a_daemon_that_fails_to_start_points_at_its_log(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", "agents = {}\ndefault_agent = 'none'\n")

    async def start() -> None:
        from aegis.daemon.client import DaemonError

        with anyio.fail_after(120), pytest.raises(DaemonError) as error:
            await connect(project / ".aegis.py", project / ".aegis")
        assert "exited as it started" in error.value.message
        assert str(project / ".aegis" / "daemon.log") in (error.value.hint or "")

    anyio.run(start)
