"""Stopping aegis: the grace running tasks get, SIGHUP, a full disk, and records left running.

Each test runs the real ``aegis`` command on the offline provider and counts the
processes left in the project folder afterwards (agents and their tools run there).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aegis.testing.processes import wait_gone
from aegis.workflow.runner import STALE_RUN
from tests.e2e.test_exit_paths import agents_in, cmdline, processes_in, start, wait_for_children
from tests.fixtures.disk import full_disk
from tests.fixtures.fakes import AEGIS, aegis_in
from tests.tui.test_command import Tmux

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis.workflow import workflow

agents = {
    "offline": Agent(provider=Scripted(rules=[
        ScriptRule(match="^quick$", reply="quick done", delay=4),
        ScriptRule(match="^slow$", reply="late", delay=120),
        ScriptRule(match="^sleeper$", tool_calls=[
            ScriptedToolCall(tool="bash", input={"command": "sleep 120"})], reply="slept"),
        ScriptRule(match="^hello$", reply="hi there"),
    ])),
}
default_agent = "offline"
queues = [Queue("work", agent_profile="offline", max_parallel=2)]


@workflow
async def sleepy(engine):
    handle = await engine.spawn("offline")
    return await engine.ask(handle, "sleeper")


@workflow
async def hello(engine):
    handle = await engine.spawn("offline")
    return await engine.ask(handle, "hello")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".aegis.py").write_text(CONFIG)
    return tmp_path


def aegis(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return aegis_in(project, *args)


def task(project: Path, task_id: str) -> dict[str, object]:
    shown = aegis(project, "queue", "show", task_id, "--json")
    assert shown.returncode == 0, shown.stderr
    data: dict[str, object] = json.loads(shown.stdout)
    return data


def wait_for_status(project: Path, task_id: str, wanted: str) -> dict[str, object]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        data = task(project, task_id)
        if data["status"] == wanted:
            return data
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} never became {wanted}: {data}")


def enqueue(project: Path, payload: str) -> str:
    """Store a task for the `aegis serve` of the test to run (no daemon competes for it)."""
    done = aegis(project, "--no-daemon", "queue", "enqueue", "work", payload)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    _, err = process.communicate(timeout=90)
    return process.returncode, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_serve_lets_a_running_task_finish_within_the_grace_and_says_which_it_interrupted(
    project: Path, signum: int
) -> None:
    # Queued first, so that both start together: serve runs tasks as soon as it starts,
    # and `quick` must still be running when the signal comes.
    quick, slow = enqueue(project, "quick"), enqueue(project, "slow")
    serve = start(project, "serve")
    wait_for_status(project, quick, "running")
    wait_for_status(project, slow, "running")
    children = wait_for_children(project, serve, 2)
    status, err = stop(serve, signum)
    assert status == 0, err
    assert task(project, quick)["status"] == "done"
    assert task(project, quick)["result"] == "quick done"
    interrupted = task(project, slow)
    assert interrupted["status"] == "failed"
    assert interrupted["error"] == (
        "interrupted by a shutdown: aegis was stopped and the task did not finish "
        "within the 10 s grace"
    )
    assert wait_gone(children) == []
    assert processes_in(project) == []


@pytest.mark.parametrize(
    ("command", "status"),
    [
        # In its own process: a run in the daemon goes on when its client's terminal closes.
        (("--no-daemon", "workflow", "run", "sleepy"), 129),
        (("chat", "offline"), 129),
        (("ask", "offline", "sleeper"), 129),
    ],
)
def test_sighup_stops_every_command_like_sigterm_and_leaves_no_process(
    project: Path, command: tuple[str, ...], status: int
) -> None:
    process = start(project, *command, stdin=subprocess.PIPE)
    assert process.stdin is not None
    if "chat" in command:
        process.stdin.write("sleeper\n")
        process.stdin.flush()
    children = wait_for_children(project, process, 2)  # the agent, and its `sleep 120`
    code, err = stop(process, signal.SIGHUP)
    assert code == status, err
    assert "Traceback" not in err
    # A run stopped with its process abandons its agent's turn: nothing waits for it.
    assert "still busy" not in err
    assert wait_gone(children) == []
    assert agents_in(project) == []  # chat and ask leave their daemon, not its agents
    if "workflow" in command:
        (record,) = json.loads(aegis(project, "workflow", "runs", "--json").stdout)
        assert record["status"] == "crashed"
        assert record["error"] == "cancelled: aegis stopped"


def test_a_run_record_left_running_by_a_killed_process_is_ended_at_the_next_start(
    project: Path,
) -> None:
    process = start(project, "--no-daemon", "workflow", "run", "sleepy")
    children = wait_for_children(project, process, 2)
    process.kill()  # kill -9: nothing is cleaned up
    process.wait(timeout=30)
    for pid in children:  # the orphans of kill -9 are this test's to remove
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    assert wait_gone(children) == []
    (left,) = json.loads(aegis(project, "workflow", "runs", "--json").stdout)
    assert left["status"] == "running"

    done = aegis(project, "--no-daemon", "workflow", "run", "hello")
    assert done.returncode == 0, done.stderr
    runs = {r["id"]: r for r in json.loads(aegis(project, "workflow", "runs", "--json").stdout)}
    recovered = runs[left["id"]]
    assert recovered["status"] == "crashed"
    assert recovered["error"] == STALE_RUN
    assert recovered["finished_at"] is not None


def test_serve_stops_on_sigterm_after_a_spawn_failed_on_a_full_disk(project: Path) -> None:
    with full_disk(project / ".aegis" / "sessions"):
        serve = start(project, "serve")
        task_id = enqueue(project, "hello")
        failed = wait_for_status(project, task_id, "failed")
        assert "no space left on the disk holding" in str(failed["error"])
        status, err = stop(serve, signal.SIGTERM)
        assert status == 0, err
        assert processes_in(project) == []


def run_a_tool_in_the_tui(terminal: Tmux, project: Path) -> None:
    """Start the TUI in ``terminal`` and have its agent run ``sleep 120``."""
    terminal.wait_for("session started", timeout=60)
    terminal.keys("sleeper", "Enter")
    deadline = time.monotonic() + 60
    while not any("sleep 120" in cmdline(pid) for pid in processes_in(project)):
        assert time.monotonic() < deadline, terminal.screen()
        time.sleep(0.1)


def test_closing_the_terminal_of_the_tui_detaches_and_its_agents_go_on(project: Path) -> None:
    assert shutil.which("tmux"), "tmux is needed (Debian: apt-get install tmux)"
    terminal = Tmux(project)
    terminal.start(f"{AEGIS} tui")
    try:
        run_a_tool_in_the_tui(terminal, project)
        tui = [pid for pid in processes_in(project) if " tui" in cmdline(pid)]
        assert len(tui) == 1, [cmdline(pid) for pid in processes_in(project)]
    finally:
        terminal.kill()  # the terminal goes away: the TUI gets SIGHUP and detaches
    assert wait_gone(tui, timeout=60) == []
    # The agent and its tool live in the daemon, not in the terminal that went away.
    assert any("sleep 120" in cmdline(pid) for pid in processes_in(project))
    stopped = aegis_in(project, "daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert wait_gone(processes_in(project), timeout=60) == []


def test_closing_the_terminal_of_a_tui_without_daemon_stops_its_agents_and_tools(
    project: Path,
) -> None:
    assert shutil.which("tmux"), "tmux is needed (Debian: apt-get install tmux)"
    terminal = Tmux(project)
    terminal.start(f"{AEGIS} --no-daemon tui")
    try:
        run_a_tool_in_the_tui(terminal, project)
        running = processes_in(project)
    finally:
        terminal.kill()  # the terminal goes away: its processes get SIGHUP
    assert wait_gone(running, timeout=60) == []
    assert processes_in(project) == []
