"""Reopening aegis in a project restores its tabs, resumes their sessions, replays transcripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis_tui.screens.broken_state import BrokenStateScreen
from aegis_tui.state import load_state
from tests.tui.helpers import make_app, ready, screen_text, transcript, until, write_project

pytestmark = pytest.mark.anyio


async def _first_run(root: Path) -> dict[str, str]:
    """Open two tabs, talk in the first, quit; returns the harness session ids by handle."""
    app = make_app(write_project(root))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"hello", "enter")
        await until(pilot, ready(app, "alpha"))
        await pilot.press("ctrl+t")
        await until(pilot, ready(app, "beta"))
        ids = {tab.handle: tab.harness_session_id for tab in app.tabs}
        await pilot.press("ctrl+q")
    assert app.return_code == 0
    assert all(ids.values())
    return {handle: session_id for handle, session_id in ids.items() if session_id}


async def test_reopening_restores_the_tabs_resumes_their_sessions_and_replays_them(
    tmp_path: Path,
) -> None:
    ids = await _first_run(tmp_path)
    state = load_state(tmp_path / ".aegis" / "tui.json")
    assert state is not None
    assert [(t.handle, t.profile, t.harness_session_id) for t in state.tabs] == [
        ("alpha", "planner", ids["alpha"]),
        ("beta", "planner", ids["beta"]),
    ]
    assert state.active == 1 and state.history == ("hello",)

    app = make_app(write_project(tmp_path), handles=("gamma",))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha", "beta"))
        assert [t.handle for t in app.tabs] == ["alpha", "beta"] and app.active == 1
        # The same harness sessions, resumed (the daemon kept the handles).
        assert app.tab_named("alpha").harness_session_id == ids["alpha"]
        old = transcript(app, "alpha")
        assert "▌ you\nhello" in old and "What shall we **build** today?" in old
        assert "events of an earlier run above" in old and "session resumed" in old
        await pilot.press("alt+1")
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: transcript(app, "alpha").count("What shall we") == 2)
        prompt = app.main.query_one("#prompt")
        assert prompt.sent == ["hello"]  # type: ignore[attr-defined]


async def test_clean_starts_one_fresh_tab_and_ignores_the_saved_tabs(tmp_path: Path) -> None:
    await _first_run(tmp_path)
    app = make_app(write_project(tmp_path), handles=("gamma",), clean=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "gamma"))
        assert [t.handle for t in app.tabs] == ["gamma"]
        assert "hello" not in transcript(app)


async def test_a_damaged_state_file_offers_a_fresh_start_and_keeps_it_aside(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path)
    path = project.state_dir / "tui.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "tabs": [{"handle": ')
    app = make_app(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: "tui.json.broken" in screen_text(app, BrokenStateScreen))
        assert "is not valid JSON" in screen_text(app, BrokenStateScreen)
        await pilot.press("enter")
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        assert (path.parent / "tui.json.broken").read_text().startswith('{"version": 1')
        await pilot.press("ctrl+q")
    assert json.loads(path.read_text())["tabs"][0]["handle"] == "alpha"


async def test_quitting_at_a_damaged_state_file_leaves_it_alone(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    path = project.state_dir / "tui.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 7}')
    app = make_app(project)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, BrokenStateScreen))
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1
    assert path.read_text() == '{"version": 7}'
    assert not (path.parent / "tui.json.broken").exists()
    assert app.tabs == []
