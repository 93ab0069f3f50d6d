"""What a new user met in the TUI (issue 16): the message box, tabs, progress, first screen."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual import events

from aegis.events import (
    AssistantMessage,
    StateChanged,
    TextDelta,
    Thinking,
    ToolCall,
    ToolResult,
)
from aegis_tui.screens.ask_text import AskText
from aegis_tui.screens.help import HelpScreen, screen_table
from aegis_tui.state import load_state
from aegis_tui.tab import Tab
from aegis_tui.widgets.key_bar import KeyBar
from aegis_tui.widgets.prompt import PromptInput
from aegis_tui.widgets.tabs import TabBar
from aegis_tui.widgets.working import WorkingIndicator
from tests.tui.helpers import FixedClock, make_app, ready, transcript, until, write_project

pytestmark = pytest.mark.anyio

PASTE = "def f(x):\r    return x  \r\r\tprint('ü ✓')\r# five\r# six\r# seven\r"


async def test_a_long_paste_shows_folded_expands_and_is_sent_whole(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        prompt = app.main.query_one(PromptInput)
        await pilot.press(*"see ")
        app.post_message(events.Paste(PASTE))  # as a terminal pastes: CR for each line
        await pilot.pause()
        assert prompt.text == "see [pasted 7 lines]"
        whole = "see " + PASTE.replace("\r", "\n")
        assert prompt.value == whole
        await pilot.press("ctrl+p")
        assert prompt.text == whole and prompt.pastes == {}
        await pilot.press("ctrl+z")  # undo the expansion: the text stays whole either way
        app.post_message(events.Paste("short\rpaste"))
        await pilot.pause()
        assert "short\npaste" in prompt.text  # a few lines are shown as they are
        prompt.value = ""
        await pilot.press(*"see ")
        app.post_message(events.Paste(PASTE))
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: app.tab_named("alpha").usage.output_tokens > 0)
        await until(pilot, ready(app, "alpha"))
        assert f"▌ you\n{whole}" in transcript(app)
        assert prompt.text == ""


async def test_a_paste_while_the_transcript_has_the_focus_goes_to_the_input_box(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        app.view_of(app.tab_named("alpha")).focus()
        await pilot.pause()
        app.post_message(events.Paste("two\rlines"))
        await pilot.pause()
        prompt = app.main.query_one(PromptInput)
        assert prompt.text == "two\nlines" and prompt.has_focus


async def test_ctrl_j_starts_a_new_line_and_enter_sends_both(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"hello", "ctrl+j", *"there", "alt+enter", *"!")
        assert app.main.query_one(PromptInput).text == "hello\nthere\n!"
        await pilot.press("enter")
        await until(pilot, lambda: "What shall we" in transcript(app))
        assert "▌ you\nhello\nthere\n!" in transcript(app)


async def test_up_walks_the_history_from_the_first_line_only(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"hello", "enter")
        await until(pilot, ready(app, "alpha"))
        prompt = app.main.query_one(PromptInput)
        await pilot.press(*"one", "ctrl+j", *"two", "up")
        assert prompt.text == "one\ntwo" and prompt.cursor_location[0] == 0
        await pilot.press("up")
        assert prompt.text == "hello"
        await pilot.press("down")
        assert prompt.text == "one\ntwo"


def test_the_activity_follows_the_turn() -> None:
    tab = Tab("alpha", "planner", "scripted", None, "auto", opened_at=0.0, state="ready")
    seen = []
    for event in (
        StateChanged("busy"),
        Thinking("hmm"),
        ToolCall("c1", "bash"),
        ToolResult("c1", True, "ok"),
        TextDelta("Do"),
        AssistantMessage("Done."),
        StateChanged("ready"),
    ):
        tab.apply(event, 1.0)
        seen.append(tab.activity)
    assert seen == [
        "thinking",
        "thinking",
        "running bash",
        "thinking",
        "writing",
        "writing",
        None,
    ]


async def test_a_working_line_shows_while_the_agent_works_and_goes_at_the_end(
    tmp_path: Path,
) -> None:
    clock = FixedClock()
    app = make_app(write_project(tmp_path, slow=30), clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        working = app.main.query_one(WorkingIndicator)
        assert not working.display
        await pilot.press(*"slow", "enter")
        await until(pilot, lambda: app.tab_named("alpha").state == "busy")
        clock.now += 12
        await pilot.pause(0.3)
        assert working.display
        line = str(working.render())
        assert "thinking · 12s · esc to interrupt" in line
        await pilot.press("escape")
        await until(pilot, ready(app, "alpha"), timeout=10)
        assert not working.display


async def test_two_tabs_of_one_profile_show_their_profile_and_a_tab_can_be_renamed(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await pilot.press("ctrl+t")
        await until(pilot, ready(app, "alpha", "beta"))
        bar = str(app.main.query_one(TabBar).render())
        assert bar.count("planner") == 2
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, AskText))
        await pilot.press(*"docs work", "enter")
        await pilot.pause()
        assert app.tab_named("beta").title == "docs work"
        assert "docs work planner" in str(app.main.query_one(TabBar).render())
        await pilot.press("ctrl+q")
    state = load_state(tmp_path / ".aegis" / "tui.json")
    assert state is not None and [t.title for t in state.tabs] == [None, "docs work"]

    app = make_app(write_project(tmp_path), handles=())
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha", "beta"))
        assert app.tab_named("beta").title == "docs work"
        assert "docs work" in str(app.main.query_one(TabBar).render())


async def test_tabs_past_the_right_edge_are_counted_and_the_active_one_stays(
    tmp_path: Path,
) -> None:
    handles = [f"tab-number-{n}" for n in range(1, 9)]
    app = make_app(write_project(tmp_path), handles=handles)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.wait_ready()
        for _ in range(7):
            await pilot.press("ctrl+t")
        await until(pilot, ready(app, *handles))
        bar = app.main.query_one(TabBar)
        text = str(bar.render())
        assert "tab-number-8" in text and text.startswith("◂")  # the last (active) one
        await pilot.press("alt+1")
        text = str(bar.render())
        assert "tab-number-1" in text and text.rstrip().endswith("▸")
        hidden = int(text.rstrip()[:-1].rsplit(" ", 1)[-1])
        shown = sum(f"tab-number-{n} " in text for n in range(1, 9))
        assert shown + hidden == 8


async def test_the_first_tab_says_what_its_profile_is_for_and_where_the_others_are(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        text = transcript(app)
        assert "planner: breaks a goal into steps" in text
        assert "Type a message and press enter" in text
        assert "Other profiles: worker; ctrl+n opens a tab of one." in text


async def test_the_help_explains_the_dots_and_the_status_line(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(screen_table())
        shown = console.export_text()
        assert "◉ busy" in shown and "the agent is working" in shown
        assert "cached" in shown and "share of the input tokens" in shown


async def test_messages_held_for_a_session_that_ends_come_back_to_the_box(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path, slow=30))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        tab = app.tab_named("alpha")
        await pilot.press(*"slow", "enter")
        await until(pilot, lambda: tab.state == "busy")
        await pilot.press(*"hello", "enter")
        assert tab.pending == ["hello"]
        await app.daemon.close("alpha")
        await until(pilot, lambda: not tab.live)
        assert app.main.query_one(PromptInput).text == "hello" and tab.pending == []


@pytest.mark.parametrize("size", [(80, 24), (40, 12)])
async def test_the_footer_keeps_help_the_dashboards_and_quit(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=size) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        footer = str(app.main.query_one(KeyBar).render())
        for key in ("f1 Help", "f2 Queues", "f3 Workflows", "^q Quit"):
            assert key in footer
        assert len(footer.rstrip()) <= size[0]
