"""Permission requests asked about at the terminal (tmux): ``aegis chat``, ``attach`` and
``ask``; and not asked about when standard input is not a terminal.

The offline agent (under permission ``write``) asks before running a command, and the
profile's rule sends the request to a person.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient, Numbered
from aegis.events import PermissionRequest, TurnEnd
from tests.daemon.conftest import aegis, stop_daemon
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.tmux import Tmux

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent, Approvals

def touch(name):
    return ScriptRule(
        match=f"^make {name}$",
        tool_calls=[ScriptedToolCall(tool="bash", input={"command": f"touch {name}"})],
        reply=f"asked for {name}",
    )

agents = {
    "offline": Agent(
        provider=Scripted(
            permission="write",
            rules=[touch(n) for n in ("one", "two", "three", "four", "five", "seven")],
        ),
        approvals=Approvals(ask=["execute"], timeout=120),
    ),
    "hurried": Agent(
        provider=Scripted(permission="write", rules=[touch("six")]),
        approvals=Approvals(ask=["execute"], timeout=1),
    ),
}
default_agent = "offline"
"""

ASKED = r"allow \[o\]nce, for the \[s\]ession, or \[d\]eny\? ?$"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One project and daemon for the module's terminals."""
    folder = tmp_path_factory.mktemp("approval-prompts")
    (folder / ".aegis.py").write_text(CONFIG)
    assert aegis(folder, "daemon", "start").returncode == 0
    yield folder
    stop_daemon(folder)


def test_chat_asks_and_the_answer_reaches_the_agent(project: Path, tmux: Tmux) -> None:
    tmux.start_aegis(project, "chat")
    tmux.wait_for(r"^> ?$")
    tmux.keys("make one", "Enter")
    tmux.wait_for(r"\? bash \[execute\] touch one waits for a person")
    tmux.wait_for(ASKED)
    tmux.keys("o", "Enter")
    tmux.wait_for(r"allow once by client:cli:chat")
    tmux.wait_for(r"^asked for one\n> ?$")
    assert (project / "one").exists()

    tmux.keys("make two", "Enter")
    tmux.wait_for(ASKED)
    tmux.keys("d", "Enter")
    tmux.wait_for(r"reason \(the agent is told\): ?$")
    tmux.keys("not two, please", "Enter")
    tmux.wait_for(r"deny by client:cli:chat: not two, please")
    tmux.wait_for(r"✗ .*refused")
    # ACP carries no reason: aegis tells the agent in the same turn, whose answer to it
    # (the offline agent echoes it) is a message of its own, on a line of its own.
    tmux.wait_for(r"^asked for two\necho: \[aegis\] A person refused your tool call")
    assert not (project / "two").exists()
    tmux.keys("C-d")
    tmux.wait_for("aegis-exited-0")


@pytest.mark.anyio
async def test_attach_asks_about_a_request_that_waits_already(project: Path, tmux: Tmux) -> None:
    client = DaemonClient(project / ".aegis", name="test")
    with anyio.fail_after(60):
        handle = (await client.spawn("offline")).handle
        await client.send(handle, "make three")
        async for item in client.events(handle):
            if isinstance(item, Numbered) and isinstance(item.event, PermissionRequest):
                break
    listed = aegis(project, "approvals")
    assert listed.returncode == 0, listed.stderr
    assert handle in listed.stdout and "bash [execute]" in listed.stdout
    tmux.start_aegis(project, "attach", handle)
    tmux.wait_for(r"\? bash \[execute\] touch three waits for a person")
    tmux.wait_for(ASKED)
    tmux.keys("s", "Enter")
    tmux.wait_for(r"allow session by client:cli:attach")
    tmux.wait_for(r"asked for three")
    assert (project / "three").exists()
    # Allowed for the rest of the session: the next command is not asked about.
    tmux.keys("make four", "Enter")
    tmux.wait_for(r"^asked for four\n> ?$")
    assert (project / "four").exists()
    assert "waits for a person" not in tmux.screen().split("make four")[-1]
    tmux.keys("C-d")
    tmux.wait_for("aegis-exited-0")
    with anyio.fail_after(60):
        await client.close(handle)


@pytest.mark.anyio
async def test_aegis_approvals_answers_once(project: Path) -> None:
    client = DaemonClient(project / ".aegis", name="test")
    with anyio.fail_after(60):
        handle = (await client.spawn("offline")).handle
        await client.send(handle, "make seven")
        async for item in client.events(handle):
            if isinstance(item, Numbered) and isinstance(item.event, PermissionRequest):
                approval_id = item.event.id
                break
    denied = aegis(project, "approvals", approval_id, "deny", "make eight instead")
    assert denied.returncode == 0, denied.stderr
    assert f"{approval_id} answered: deny (the agent is told: make eight instead)" in denied.stdout
    again = aegis(project, "approvals", approval_id, "allow")
    assert again.returncode == 1
    assert "answered already: deny by client:cli:approvals: make eight" in again.stderr
    unknown = aegis(project, "approvals", "nosuchid", "allow")
    assert unknown.returncode == 1
    assert "`aegis approvals` (GET /v1/approvals) lists them" in unknown.stderr
    with anyio.fail_after(60):
        async for item in client.events(handle):
            if isinstance(item, Numbered) and isinstance(item.event, TurnEnd):
                assert item.event.ok
                break
        await client.close(handle)
    assert not (project / "seven").exists()


def test_ask_asks_on_a_terminal(project: Path, tmux: Tmux) -> None:
    tmux.start_aegis(project, "ask", "offline", "'make five'")
    tmux.wait_for(ASKED)
    tmux.keys("o", "Enter")
    tmux.wait_for(r"^asked for five$")
    tmux.wait_for("aegis-exited-0")
    assert (project / "five").exists()


def test_without_a_terminal_nothing_is_asked_and_the_request_times_out(project: Path) -> None:
    done = subprocess.run(
        [str(AEGIS), "ask", "hurried", "make six"],
        cwd=project,
        env=clean_env(home=project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "waits for a person" in done.stderr
    assert re.search(r"answer it from a terminal: aegis approvals \w+ allow", done.stderr)
    assert "deny by aegis: nobody answered this permission request within 1 s" in done.stderr
    assert "allow [o]nce" not in done.stderr
    assert not (project / "six").exists()
    # In a process of its own, no other client can answer: the note says only the timeout will.
    alone = subprocess.run(
        [str(AEGIS), "--no-daemon", "ask", "hurried", "make six"],
        cwd=project,
        env=clean_env(home=project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alone.returncode == 0, alone.stderr
    assert "nobody can answer it here (no terminal, no daemon): it is refused in 1 s" in (
        alone.stderr
    )
    assert "deny by aegis: nobody answered" in alone.stderr
    assert not (project / "six").exists()
