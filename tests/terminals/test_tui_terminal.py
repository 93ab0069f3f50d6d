"""The TUI's terminal tabs in a real terminal (tmux): open one with f6, type into it, see an
agent's command appear live, close the tab (the terminal goes on) and open it again, and
quit at once with a command running, leaving no shell; the canvas view (f7) following
writes and a person's edits."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient
from tests.e2e.test_exit_paths import processes_in
from tests.fixtures.fakes import AEGIS, clean_env
from tests.support.tmux import Tmux

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent

agents = {"offline": Agent(provider=Scripted(rules=[
    ScriptRule(match="run it", reply="ran: {output}", tool_calls=[ScriptedToolCall(
        tool="mcp:aegis/aegis_term_run",
        input={"name": "shell", "command": "echo agent-$((5+5))"})]),
]))}
default_agent = "offline"
"""


def shell_processes(project: Path) -> list[int]:
    """The terminal's shell and its commands (they run in the project's folder)."""
    found = []
    for pid in processes_in(project):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(argv[0].decode()).name in ("bash", "sleep"):
            found.append(pid)
    return found


def terminals(project: Path) -> list[dict[str, object]]:
    async def ask() -> list[dict[str, object]]:
        return await DaemonClient(project / ".aegis", name="test").terminals()

    return anyio.run(ask)


def test_a_terminal_tab_quits_at_once_with_a_command_running_and_leaves_no_shell(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".aegis.py").write_text(CONFIG)
    tmux = Tmux(project, width=100, height=30)
    env = {**clean_env(home=project), "SHELL": shutil.which("bash") or "/bin/bash"}
    try:
        # `; sleep` keeps the window (and what aegis printed) after aegis exits.
        tmux.start(f"{AEGIS} --no-daemon; echo aegis-exited-$?; exec sleep 60", env=env)
        tmux.wait_for("session started")
        tmux.keys("F6")  # the daemon has no terminal: a new one, in a tab
        tmux.wait_for(r"2 ▣ shell terminal")
        tmux.wait_for(r"[#$] ?$")  # its prompt
        tmux.keys("echo typed-$((3+4))", "Enter")
        tmux.wait_for(r"^typed-7")
        [shell] = terminals(project)
        assert shell["cols"] == 100 and 20 <= int(str(shell["rows"])) < 30  # the tab's size
        tmux.keys("C-r")  # the shell's key here (renaming the tab elsewhere)
        tmux.wait_for(r"reverse-i-search")
        tmux.keys("C-g")

        # An agent's command appears live in the tab shown.
        anyio.run(_ask_agent, project, "run it")
        tmux.wait_for(r"^agent-10")
        tmux.keys("M-1")  # the agent's tab
        tmux.wait_for("ran: ")
        tmux.keys("M-2")
        tmux.wait_for("terminal shell · shared")  # its status line: the tab is shown

        # Closing the tab detaches; f6 then offers the terminal, which went on.
        tmux.keys("C-w")
        tmux.wait_for("Close the tab of terminal shell")
        tmux.keys("Enter")
        tmux.wait_for("message the agent")  # back on the agent's tab, the only one
        assert [t["alive"] for t in terminals(project)] == [True]
        tmux.keys("F6")
        tmux.wait_for(r"\+ a new terminal \(shell-2\)")
        tmux.keys("Enter")  # the first choice: shell
        tmux.wait_for(r"^typed-7")  # its screen, as it was

        tmux.keys("sleep 300", "Enter")
        anyio.run(_until_busy, project)
        shell_pid = int(str(shell["pid"]))
        running = [
            pid for pid in shell_processes(project) if pid == shell_pid or _parent(pid) == shell_pid
        ]
        assert len(running) == 2  # bash and its sleep
        tmux.keys("C-q")
        tmux.wait_for("aegis-exited-0")
        assert [pid for pid in running if _alive(pid)] == []
    finally:
        tmux.kill()


async def _ask_agent(project: Path, text: str) -> None:
    client = DaemonClient(project / ".aegis", name="test")
    [session] = await client.sessions()
    await client.send(session.handle, text)


async def _until_busy(project: Path) -> None:
    client = DaemonClient(project / ".aegis", name="test")
    with anyio.fail_after(20):
        while not (await client.terminals())[0]["busy"]:
            await anyio.sleep(0.05)


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _parent(pid: int) -> int:
    try:
        return int(_stat(pid)[1])
    except OSError:
        return 0


def _alive(pid: int) -> bool:
    try:
        return _stat(pid)[0] != "Z"
    except OSError:
        return False


@pytest.mark.anyio
async def test_the_canvas_view_follows_writes_and_a_persons_edits(tmp_path: Path) -> None:
    from textual.widgets import Markdown

    from aegis_tui.screens.canvas import CanvasScreen
    from tests.tui.helpers import make_app, until, write_project

    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.client is not None, 30)
        client = app.client
        assert client is not None
        path = Path((await client.open_canvas("plan"))["path"])
        await client.write_canvas("plan", "Goals", "ship it")
        await pilot.press("f7")
        screen = app.screen
        assert isinstance(screen, CanvasScreen)
        await until(pilot, lambda: screen.text == "## Goals\nship it\n")
        path.write_text(path.read_text() + "\n## Notes\n\nby hand\n")  # a person's editor
        await until(pilot, lambda: "by hand" in (screen.text or ""))
        await client.write_canvas("plan", "Goals", "ship it twice")
        await until(pilot, lambda: "ship it twice" in (screen.text or ""))
        assert "ship it twice" in screen.query_one("#canvas-text", Markdown).source
        await pilot.press("escape")
        assert not isinstance(app.screen, CanvasScreen)


@pytest.mark.anyio
async def test_a_terminal_tab_can_kill_its_terminal_and_says_when_its_shell_ends(
    tmp_path: Path,
) -> None:
    from aegis_tui.screens.close_terminal import CloseTerminal
    from aegis_tui.widgets.prompt import PromptInput
    from aegis_tui.widgets.terminal import TerminalView
    from tests.tui.helpers import make_app, until, write_project

    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        client = app.client
        assert client is not None
        await pilot.press("f6")
        await until(pilot, lambda: app.current is not None and app.current.terminal == "shell")
        assert isinstance(app.focused, TerminalView)
        assert not app.main.query_one(PromptInput).display  # the input box is for sessions
        await pilot.press("ctrl+w")
        assert isinstance(app.screen, CloseTerminal)
        await pilot.press("k")  # kill it: the tab goes, and the terminal with it
        await until(pilot, lambda: [t.terminal for t in app.tabs] == [None])
        await until(pilot, _no_live_terminal(client))
        assert app.main.query_one(PromptInput).display

        await client.spawn_terminal("build")  # an agent's, say
        await pilot.press("f6")
        await pilot.press("enter")  # the first choice: build
        await until(pilot, lambda: app.current is not None and app.current.terminal == "build")
        tab = app.current
        assert tab is not None
        await client.close_terminal("build")  # closed elsewhere: the tab says it ended
        await until(pilot, lambda: tab.state == "closed")
        assert "[build: " in str(app.query_one(TerminalView).render())
        await pilot.press("ctrl+w")  # an ended terminal's tab closes without asking
        await until(pilot, lambda: tab not in app.tabs)


def _no_live_terminal(client: DaemonClient) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not [t for t in await client.terminals() if t["alive"]]

    return check
