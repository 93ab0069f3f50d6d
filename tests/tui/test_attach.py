"""The TUI as a client of the project's daemon: it shows the daemon's sessions, whoever
started them, quitting detaches (or stops everything, when asked), and attaching again
shows the live state. The daemon runs in the test's event loop; the apps attach to it."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient, DaemonNotRunning
from aegis_tui.app import AegisApp
from aegis_tui.screens.queues import QueueDashboard
from aegis_tui.screens.quit import QuitChoice
from aegis_tui.state import load_state
from tests.tui.helpers import (
    daemon_of,
    make_app,
    ready,
    screen_text,
    transcript,
    until,
    write_project,
)

pytestmark = pytest.mark.anyio


async def test_quitting_detaches_the_turn_goes_on_and_attaching_again_shows_it(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path, slow=3)
    async with daemon_of(project) as daemon:
        app = make_app(project, client=daemon)
        async with app.run_test(size=(100, 30)) as pilot:
            await app.wait_ready()
            await until(pilot, ready(app, "alpha"))
            await pilot.press(*"slow", "enter")
            await until(pilot, lambda: app.tab_named("alpha").state == "busy")
            await pilot.press("ctrl+q")
            await until(pilot, lambda: "detach" in screen_text(app, QuitChoice))
            assert "1 session busy (alpha)" in screen_text(app, QuitChoice)
            await pilot.press("enter")  # the default: detach
            await until(pilot, lambda: app.return_code is not None)
        assert app.return_code == 0
        assert (await daemon.session("alpha")).state == "busy"  # the turn goes on

        again = make_app(project, client=daemon, handles=())
        async with again.run_test(size=(100, 30)) as pilot:
            await again.wait_ready()
            assert [t.handle for t in again.tabs] == ["alpha"]
            assert "▌ you\nslow" in transcript(again)  # its transcript from the start
            assert "resuming" not in transcript(again)  # attached, not resumed
            await until(pilot, lambda: "Done, slowly." in transcript(again))
            await until(pilot, ready(again, "alpha"))
            await pilot.press("ctrl+q")  # nothing runs: no question
            await until(pilot, lambda: again.return_code is not None)
        assert not any(isinstance(s, QuitChoice) for s in again.screen_stack)
        assert (await daemon.session("alpha")).state == "ready"


async def test_sessions_started_elsewhere_are_tabs_and_queue_workers_are_not(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path)
    async with daemon_of(project) as daemon:
        asked = await daemon.spawn("planner", "asked", started_by="client:ask")
        await daemon.send(asked.handle, "hello")
        app = make_app(project, client=daemon)
        async with app.run_test(size=(100, 30)) as pilot:
            await app.wait_ready()
            # The daemon's live session is a tab (no new one: there was something to show).
            assert [t.handle for t in app.tabs] == ["asked"]
            await until(pilot, lambda: "What shall we **build** today?" in transcript(app))
            assert "▌ you\nhello" in transcript(app)
            await daemon.spawn("worker", "chatted", started_by="client:chat")
            task = await daemon.enqueue("work", "count the files")
            await until(pilot, lambda: task_is(app, task["id"], "done"), timeout=30)
            await until(pilot, ready(app, "chatted"))  # it came as a tab by itself
            assert [t.handle for t in app.tabs] == ["asked", "chatted"]
            await pilot.press("f2")  # the worker shows where its queue is
            await until(pilot, lambda: isinstance(app.screen, QueueDashboard))
            assert isinstance(app.screen, QueueDashboard)
            await app.screen.reload()
            assert app.screen.tasks[-1].result == "Counted: 3."


@pytest.mark.parametrize("another_client", [False, True])
async def test_stopping_everything_cancels_tasks_closes_sessions_and_stops_the_daemon(
    tmp_path: Path, another_client: bool
) -> None:
    project = write_project(tmp_path)
    async with daemon_of(project) as daemon, anyio.create_task_group() as tg:
        app = make_app(project, client=daemon)
        async with app.run_test(size=(100, 30)) as pilot:
            await app.wait_ready()
            await until(pilot, ready(app, "alpha"))
            task = await daemon.enqueue("work", "count slowly")
            await until(pilot, lambda: task_is(app, task["id"], "running"))
            if another_client:  # `aegis attach alpha` in another terminal, say
                other = DaemonClient(project.state_dir, name="cli:attach")
                tg.start_soon(read_all, other, "alpha")
                await until(pilot, lambda: attached(app, "cli:attach"))
            await pilot.press("ctrl+q")
            await until(
                pilot, lambda: "1 queue task running, 0 queued" in screen_text(app, QuitChoice)
            )
            await pilot.press("s")
            await until(pilot, lambda: app.return_code is not None, timeout=30)
        if another_client:  # the daemon goes on for it, with nothing left to run
            assert (await daemon.task(task["id"]))["status"] == "cancelled"
            assert not [s for s in await daemon.sessions() if s.live]
            return
        with pytest.raises(DaemonNotRunning):
            await daemon.status()  # nothing else was attached: the daemon stopped
    async with daemon_of(project) as daemon:
        ended = await daemon.task(task["id"])
        assert ended["status"] == "cancelled"
        assert not [s for s in await daemon.sessions() if s.live]


async def read_all(client: DaemonClient, handle: str) -> None:
    """Follow the events of ``handle`` until its session ends."""
    async for _ in client.events(handle):
        pass


async def attached(app: AegisApp, name: str) -> bool:
    """Whether the daemon lists a client called ``name`` among the attached ones."""
    return name in [c["name"] for c in (await app.daemon.status())["clients"]]


async def task_is(app: AegisApp, task_id: str, status: str) -> bool:
    """Whether the daemon says task ``task_id`` has ``status``."""
    return bool((await app.daemon.task(task_id))["status"] == status)


async def test_a_daemon_stopped_under_the_tui_is_said_in_its_tabs(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    async with daemon_of(project) as daemon:
        app = make_app(project, client=daemon)
        async with app.run_test(size=(100, 30)) as pilot:
            await app.wait_ready()
            await until(pilot, ready(app, "alpha"))
            await daemon.stop()  # as `aegis daemon stop` in another terminal
            await until(pilot, lambda: app.tab_named("alpha").state == "failed")
            assert "✖ the aegis daemon stopped" in transcript(app)
            await pilot.press("ctrl+q")  # nothing answers what runs: it leaves
            await until(pilot, lambda: app.return_code is not None)


async def test_terminal_tabs_open_again_in_the_next_tui_while_their_terminals_run(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path)
    async with daemon_of(project) as daemon:
        await daemon.spawn_terminal("build")  # an agent's, say
        app = make_app(project, client=daemon)
        async with app.run_test(size=(100, 30)) as pilot:
            await app.wait_ready()
            await until(pilot, ready(app, "alpha"))
            await pilot.press("f6", "down", "enter")  # a new terminal: shell
            await until(pilot, lambda: app.current is not None and app.current.terminal == "shell")
            await pilot.press("f6", "enter")  # the first choice: build
            await until(pilot, lambda: app.current is not None and app.current.terminal == "build")
            await pilot.press("ctrl+q")
            await until(pilot, lambda: app.return_code is not None or _asks_to_quit(app))
            if app.return_code is None:
                await pilot.press("enter")  # detach
                await until(pilot, lambda: app.return_code is not None)
        state = load_state(tmp_path / ".aegis" / "tui.json")
        assert state is not None
        assert (state.terminals, state.active_terminal) == (("shell", "build"), "build")
        await daemon.close_terminal("shell")  # ended meanwhile: its tab is not restored

        again = make_app(project, client=daemon, handles=())
        async with again.run_test(size=(100, 30)) as pilot:
            await again.wait_ready()
            assert [(t.handle, t.terminal) for t in again.tabs] == [
                ("alpha", None),
                ("terminal:build", "build"),
            ]
            assert again.current is again.tabs[1]  # the tab shown when the last TUI quit
            said = [n.message for n in again._notifications]
            assert "terminal tab not restored (its shell has ended): shell" in said
            await pilot.press("alt+1")
            await until(pilot, lambda: again.current is again.tabs[0])
            await pilot.press("ctrl+q")  # nothing at work: no question
            await until(pilot, lambda: again.return_code is not None)
        state = load_state(tmp_path / ".aegis" / "tui.json")
        assert state is not None
        assert (state.terminals, state.active_terminal, state.active) == (("build",), None, 0)


def _asks_to_quit(app: AegisApp) -> bool:
    return isinstance(app.screen, QuitChoice)
