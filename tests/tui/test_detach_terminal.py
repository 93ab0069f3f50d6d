"""In a real terminal (tmux): the TUI quits (detach) while a queue task runs, the task
finishes in the daemon, and a new TUI shows it done, with the worker's transcript."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient
from tests.daemon.conftest import daemon_pid
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.tmux import Tmux
from tests.tui.helpers import write_project


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    terminal = Tmux(tmp_path, width=110, height=32)
    yield terminal
    terminal.kill()


def open_tui(tmux: Tmux, project: Path) -> None:
    # `; sleep` keeps the window (and what aegis printed) after aegis exits.
    tmux.start(f"{AEGIS}; echo aegis-exited-$?; sleep 60", env=clean_env(home=project))


def tasks(project: Path) -> list[dict[str, object]]:
    """The project's tasks, as its daemon lists them."""

    async def ask() -> list[dict[str, object]]:
        return await DaemonClient(project / ".aegis", name="test").tasks()

    return anyio.run(ask)


def test_a_task_runs_on_after_the_tui_detaches_and_the_next_tui_shows_it_done(
    tmp_path: Path, tmux: Tmux
) -> None:
    write_project(tmp_path, slow=6)
    open_tui(tmux, tmp_path)
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
    open_tui(tmux, tmp_path)  # a new TUI, while (or after) the task finishes
    tmux.wait_for("session started")
    assert daemon_pid(tmp_path) == daemon  # the same daemon all along
    tmux.keys("F2")
    screen = tmux.wait_for(r"work\s+done.*Tallied: 7\.", timeout=60)
    assert screen is not None
    [task] = tasks(tmp_path)
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
