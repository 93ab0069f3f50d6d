"""The TUI and the daemon in a real terminal (tmux): the TUI quits (detach) while a queue
task runs, the task finishes in the daemon, and a new TUI shows it done with the
worker's transcript; ``aegis --no-daemon`` runs a daemon of its own, stopped on quit, and
refuses to start beside a running one."""

from __future__ import annotations

from pathlib import Path

import anyio

from aegis.daemon.client import DaemonClient
from tests.daemon.conftest import daemon_pid, start_daemon
from tests.e2e.test_exit_paths import processes_in
from tests.support.tmux import Tmux
from tests.tui.helpers import write_project


def tasks(project: Path) -> list[dict[str, object]]:
    """The project's tasks, as its daemon lists them."""

    async def ask() -> list[dict[str, object]]:
        return await DaemonClient(project / ".aegis", name="test").tasks()

    return anyio.run(ask)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def aegis_processes_in(folder: Path) -> list[int]:
    """Processes of aegis (a daemon, an agent CLI) whose working directory is ``folder``."""
    found = []
    for pid in processes_in(folder):
        try:
            if b"aegis" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_task_runs_on_after_the_tui_detaches_and_the_next_tui_shows_it_done(
    tmp_path: Path, tmux: Tmux
) -> None:
    write_project(tmp_path, slow=8)
    tmux.start_aegis(tmp_path)
    tmux.wait_for("session started")
    daemon = daemon_pid(tmp_path)
    assert daemon is not None  # the TUI started the project's daemon

    tmux.keys("F2")
    tmux.wait_for("a task for the queue")
    tmux.keys("tally the files", "Enter")
    tmux.wait_for(r"work\s+running")
    tmux.keys("C-q")
    tmux.wait_for("1 queue task running, 0 queued")
    tmux.keys("Enter")  # detach, the default
    tmux.wait_for("aegis-exited-0")
    [task] = tasks(tmp_path)
    assert task["status"] == "running"  # not ended by the TUI's leaving

    tmux.kill()
    # A new TUI (in a terminal of its own), while or after the task finishes.
    again = Tmux(tmp_path, width=110, height=32)
    try:
        shows_it_done(again, tmp_path, daemon)
    finally:
        again.kill()


def shows_it_done(tmux: Tmux, project: Path, daemon: int) -> None:
    tmux.start_aegis(project)
    tmux.wait_for("session started")
    assert daemon_pid(project) == daemon  # the same daemon all along
    tmux.keys("F2")
    tmux.wait_for(r"work\s+done.*Tallied: 7\.", timeout=60)
    [task] = tasks(project)
    assert task["status"] == "done" and task["result"] == "Tallied: 7."
    tmux.keys("Tab", "Enter")  # the worker's transcript, from its first event
    title = f"{task['worker_handle']} · task {task['id']} · work"
    tmux.wait_until(
        lambda screen: (
            title in screen
            and "session started" in screen
            and "tally the files" in screen
            and "Tallied: 7." in screen
        ),
        what="the worker's transcript",
    )


def test_no_daemon_runs_its_own_daemon_and_stops_it_on_quit(tmp_path: Path, tmux: Tmux) -> None:
    write_project(tmp_path)
    tmux.start_aegis(tmp_path, "--no-daemon")
    tmux.wait_for("session started")
    daemon = daemon_pid(tmp_path)
    assert daemon is not None and parent_of(daemon) == tmux.pane_pid()  # the TUI's own process
    tmux.keys("hello", "Enter")
    tmux.wait_for("Hi! What shall we build today?")
    tmux.keys("C-q")  # stops its daemon: no question, nothing left running
    tmux.wait_for("aegis-exited-0")
    assert daemon_pid(tmp_path) is None
    assert aegis_processes_in(tmp_path) == []  # no daemon, no agent left


def test_no_daemon_refuses_to_start_beside_a_running_daemon(tmp_path: Path, tmux: Tmux) -> None:
    write_project(tmp_path)
    pid = start_daemon(tmp_path)
    tmux.start_aegis(tmp_path, "--no-daemon")
    screen = tmux.wait_for("aegis-exited-1").string
    assert f"error: an aegis daemon already runs for this project (pid {pid})" in screen
    assert "hint: a bare `aegis` attaches to it" in screen
    assert daemon_pid(tmp_path) == pid  # left alone
