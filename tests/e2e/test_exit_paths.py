"""Leaving aegis, by any path, leaves no child process behind; Ctrl+C in chat interrupts.

A command whose session runs in the project's daemon leaves the daemon running (that
is what it is for), but none of the session's processes; with ``--no-daemon`` nothing
at all is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aegis.daemon.lock import holder
from aegis.daemon.protocol import lock_path
from aegis.testing.processes import alive, wait_gone
from tests.fixtures.fakes import AEGIS, clean_env

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.workflow import workflow

agents = {
    "offline": Agent(provider=Scripted(rules=[
        ScriptRule(match="^slow$", reply="late", delay=60),
        ScriptRule(match="^sleeper$", tool_calls=[
            ScriptedToolCall(tool="bash", input={"command": "sleep 60"})], reply="slept"),
        ScriptRule(match="^hello$", reply="hi there"),
    ])),
}
default_agent = "offline"


@workflow
async def crash(engine):
    handle = await engine.spawn("offline")
    await engine.ask(handle, "hello")
    raise RuntimeError("boom")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".aegis.py").write_text(CONFIG)
    return tmp_path


def processes_in(folder: Path, *, exclude: int | None = None) -> list[int]:
    """Processes whose working directory is ``folder`` (agents and their tools run there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (os.getpid(), exclude):
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == folder and alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def agents_in(folder: Path, *, exclude: int | None = None) -> list[int]:
    """The processes working in ``folder`` but its daemon and the daemon's launcher
    (agents and their tools)."""
    daemon = holder(lock_path(folder / ".aegis"))
    return [
        pid
        for pid in processes_in(folder, exclude=exclude)
        if pid != daemon and not _is_daemon(pid)
    ]


def _is_daemon(pid: int) -> bool:
    """Whether ``pid`` is a daemon (maybe before it has taken its lock) or its launcher."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"aegis.daemon.detach" in argv or any(
        argv[i : i + 2] == [b"daemon", b"run"] for i in range(len(argv))
    )


MODES = {"daemon": (), "no-daemon": ("--no-daemon",)}
"""How a command runs its sessions: in the project's daemon, or in its own process."""


def cmdline(pid: int) -> str:
    """Process ``pid``'s command line, words joined by spaces (empty once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start(
    project: Path, *args: str, stdin: int | None = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(AEGIS), *args],
        cwd=project,
        env=clean_env(home=project),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_children(project: Path, aegis: subprocess.Popen[str], count: int) -> list[int]:
    deadline = time.monotonic() + 90  # generous: a loaded 2-core machine starts slowly
    while time.monotonic() < deadline:
        children = agents_in(project, exclude=aegis.pid)
        if len(children) >= count:
            return children
        assert aegis.poll() is None, aegis.communicate()
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} agent processes appeared")


def wait_for_transcript(project: Path, fragment: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for transcript in project.glob(".aegis/sessions/*/transcript.jsonl"):
            if fragment in transcript.read_text():
                return
        time.sleep(0.05)
    raise AssertionError(f"no transcript holds {fragment}")


@pytest.mark.parametrize("mode", MODES)
def test_a_normal_exit_leaves_no_process(project: Path, mode: str) -> None:
    done = subprocess.run(
        [str(AEGIS), *MODES[mode], "ask", "offline", "hello"],
        cwd=project,
        env=clean_env(home=project),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hi there"
    assert wait_gone(agents_in(project)) == []
    if mode == "no-daemon":
        assert processes_in(project) == []


@pytest.mark.parametrize(
    ("signum", "status", "mode"),
    [
        (signal.SIGINT, 130, "daemon"),
        (signal.SIGTERM, 143, "daemon"),
        (signal.SIGINT, 130, "no-daemon"),
    ],
)
def test_a_signal_mid_turn_stops_the_agent_and_its_tools(
    project: Path, signum: int, status: int, mode: str
) -> None:
    aegis = start(project, *MODES[mode], "ask", "offline", "sleeper")
    children = wait_for_children(project, aegis, 2)  # the agent, and its `sleep 60`
    aegis.send_signal(signum)
    assert aegis.wait(timeout=20) == status
    assert wait_gone(children) == []
    assert agents_in(project) == []
    if mode == "no-daemon":
        assert processes_in(project) == []


def test_a_crashing_workflow_leaves_no_process(project: Path) -> None:
    done = subprocess.run(
        [str(AEGIS), "workflow", "run", "crash"],
        cwd=project,
        env=clean_env(home=project),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "RuntimeError: boom" in done.stderr
    # The daemon that ran it goes on (until its idle exit); nothing the run started does.
    daemon = holder(project / ".aegis" / "daemon.lock")
    assert daemon is not None
    assert wait_gone(processes_in(project, exclude=daemon)) == []


def test_ctrl_c_in_chat_interrupts_the_turn_and_ctrl_d_leaves(project: Path) -> None:
    chat = start(project, "chat", "offline", stdin=subprocess.PIPE)
    assert chat.stdin is not None
    chat.stdin.write("slow\n")
    chat.stdin.flush()
    wait_for_children(project, chat, 1)
    wait_for_transcript(project, '"text":"slow"')  # the turn is under way
    chat.send_signal(signal.SIGINT)
    # communicate() sends the next line, then closes stdin: that is Ctrl+D.
    out, err = chat.communicate("hello\n", timeout=30)
    assert chat.returncode == 0, err
    assert "(interrupted)" in err
    assert "hi there" in out
    assert "late" not in out
    assert wait_gone(agents_in(project)) == []
