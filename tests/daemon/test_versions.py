"""A client that finds a daemon of another aegis version says what to do, and on a terminal
offers to restart it (default no when it runs something)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aegis import __version__
from aegis.testing.processes import alive
from tests.daemon.conftest import aegis, daemon_pid, make_project, stop_daemon
from tests.support import other_daemon
from tests.support.tmux import Tmux

MISMATCH = (
    f"the running daemon is aegis 9.0.0 (protocol 1); this is aegis {__version__} (protocol 1)"
)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    folder = make_project(tmp_path / "project")
    yield folder
    stop_daemon(folder)


def run_other_daemon(project: Path, *, live: int, running: int) -> subprocess.Popen[str]:
    """The daemon of another aegis installation, answering on the project's socket."""
    state, counts = str(project / ".aegis"), (str(live), str(running))
    process = subprocess.Popen(
        [sys.executable, other_daemon.__file__, state, "9.0.0", *counts],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_without_a_terminal_the_client_says_to_restart_the_daemon(project: Path) -> None:
    other = run_other_daemon(project, live=1, running=0)
    try:
        asked = aegis(project, "ask", "offline", "hello")
        assert asked.returncode == 1
        assert asked.stderr.splitlines() == [
            f"error: {MISMATCH}",
            "  hint: `aegis daemon restart` restarts it with this aegis (its sessions end)",
        ]
        assert other.poll() is None  # nobody asked it anything but its status
    finally:
        other.kill()
        other.wait()


@pytest.fixture
def tmux(project: Path) -> Iterator[Tmux]:
    terminal = Tmux(project, width=160)  # the question on one line
    yield terminal
    terminal.kill()


def test_on_a_terminal_the_client_offers_a_restart_that_says_what_stops(
    project: Path, tmux: Tmux
) -> None:
    other = run_other_daemon(project, live=1, running=2)
    try:
        tmux.start_aegis(project, "ask", "offline", "hello")
        tmux.wait_for(MISMATCH.replace("(", r"\(").replace(")", r"\)"))
        tmux.wait_for(
            r"Restart it with this aegis\? it runs 1 session and 2 tasks: they would be "
            r"stopped\. \[y/N\]"
        )
        tmux.keys("Enter")  # the default: no
        tmux.wait_for("aegis-exited-1")
        assert other.poll() is None
        tmux.kill()

        again = Tmux(project, width=160)
        try:
            again.start_aegis(project, "ask", "offline", "hello")
            again.wait_for(r"\[y/N\]")
            again.keys("y", "Enter")
            again.wait_for(r"^hi there$", timeout=120)
            again.wait_for("aegis-exited-0")
        finally:
            again.kill()
        assert other.wait(timeout=30) == 0  # asked to stop, through the protocol
        pid = daemon_pid(project)
        assert pid is not None and pid != other.pid and alive(pid)
        status = aegis(project, "daemon", "status")
        assert f"aegis {__version__}, protocol 1" in status.stdout
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
