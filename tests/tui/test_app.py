"""The app on the offline scripted provider, driven with Textual's pilot."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis_tui.app import AegisApp
from aegis_tui.widgets.prompt import PromptInput
from aegis_tui.widgets.queued import QueuedMessages
from tests.tui.helpers import make_app, ready, transcript, until, write_project

pytestmark = pytest.mark.anyio


async def state_of(app: AegisApp, handle: str, state: str) -> bool:
    """Whether the daemon says session ``handle`` is in ``state``."""
    return (await app.daemon.session(handle)).state == state


async def test_a_message_streams_its_reply_into_the_tab(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"hello", "enter")
        await until(pilot, lambda: "What shall we **build** today?" in transcript(app))
        text = app.view_of(app.tab_named("alpha")).visible_text()
        assert "▌ you\n  hello" in text
        assert "Hi! What shall we build today?" in text  # the Markdown bold is rendered
        assert app.tab_named("alpha").usage.output_tokens > 0


async def test_a_tool_call_shows_its_kind_and_a_preview_that_expands(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"list", "enter")
        await until(pilot, lambda: "Five lines." in transcript(app))
        view = app.view_of(app.tab_named("alpha"))
        text = view.visible_text()
        assert "✓ execute bash  printf" in text
        assert "one\n  two\n  three" in text
        assert "\n  four" not in text and "… 2 more lines" in text
        await pilot.press("ctrl+o")
        await pilot.pause()
        text = view.visible_text()
        assert "four\n  five" in text and "more lines" not in text


async def test_typing_while_busy_queues_the_message_until_it_is_delivered(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path, slow=1.5))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        tab = app.tab_named("alpha")
        await pilot.press(*"slow", "enter")
        await until(pilot, lambda: tab.state == "busy")
        await pilot.press(*"hello", "enter")
        await pilot.pause()
        queued = app.main.query_one(QueuedMessages)
        assert tab.pending == ["hello"]
        assert queued.display and "↳ queued hello" in str(queued.render())
        # Held by the TUI (not in the session's inbox) until the agent is ready again,
        # so that an interrupt can give it back (see the test below).
        assert (await app.daemon.session("alpha")).queued == 0
        await until(pilot, lambda: "What shall we **build** today?" in transcript(app))
        assert tab.pending == [] and not queued.display
        assert transcript(app).index("Done, slowly.") < transcript(app).index("▌ you\nhello")


async def test_escape_interrupts_the_running_turn(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path, slow=30))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"slow", "enter")
        await until(pilot, lambda: app.tab_named("alpha").state == "busy")
        await pilot.press("escape")
        await until(pilot, lambda: "⊘ interrupted" in transcript(app), timeout=10)
        await until(pilot, ready(app, "alpha"))
        assert "Done, slowly." not in transcript(app)


async def test_escape_gives_the_queued_messages_back_to_the_input_box(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path, slow=30))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        tab = app.tab_named("alpha")
        await pilot.press(*"slow", "enter")
        await until(pilot, lambda: tab.state == "busy")
        await pilot.press(*"hello", "enter", *"list", "enter")
        assert tab.pending == ["hello", "list"]
        await pilot.press("escape")
        await until(pilot, ready(app, "alpha"), timeout=10)
        await pilot.pause(0.5)  # time for a wrongly sent message to start a turn
        prompt = app.main.query_one(PromptInput)
        assert prompt.value == "hello\n\nlist"
        assert tab.state == "ready" and tab.pending == []
        assert "▌ you\nhello" not in transcript(app) and "Five lines." not in transcript(app)
        assert not app.main.query_one(QueuedMessages).display


async def test_a_background_tab_that_finishes_rings_the_bell_and_is_marked_unseen(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path, slow=1.0))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"slow", "enter")
        await pilot.press("ctrl+t")
        await until(pilot, ready(app, "beta"))
        alpha = app.tab_named("alpha")
        assert app.current is app.tab_named("beta")
        await until(pilot, ready(app, "alpha"))  # its turn has ended
        assert "Done, slowly." in transcript(app, "alpha")
        assert alpha.unseen and app.bells == 1
        assert "✱" in str(app.main.query_one("#tabs").render())
        await pilot.press("alt+1")
        assert app.current is alpha and not alpha.unseen


async def test_tabs_switch_by_number_and_by_arrows_and_close_after_confirming(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await pilot.press("ctrl+t", "ctrl+t")
        await until(pilot, ready(app, "alpha", "beta", "gamma"))
        assert [t.handle for t in app.tabs] == ["alpha", "beta", "gamma"] and app.active == 2
        await pilot.press("alt+2")
        assert app.active == 1
        await pilot.press("alt+right", "alt+right")
        assert app.active == 0  # wraps around
        await pilot.press("alt+left")
        assert app.active == 2
        await pilot.press("ctrl+w", "n")  # asked, and kept
        assert len(app.tabs) == 3
        await pilot.press("ctrl+w", "y")
        await until(pilot, lambda: state_of(app, "gamma", "closed"))
        assert [t.handle for t in app.tabs] == ["alpha", "beta"] and app.active == 1


async def test_the_profile_picker_opens_a_tab_of_the_chosen_profile(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await pilot.press("ctrl+n")
        await pilot.pause()
        await pilot.press("down", "enter")
        await until(pilot, ready(app, "beta"))
        beta = app.tab_named("beta")
        assert beta.profile == "worker" and app.current is beta
        assert "worker [scripted/scripted]" in str(app.main.query_one("#tabs").render())


async def test_up_and_down_walk_the_input_history(tmp_path: Path) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.wait_ready()
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"hello", "enter")
        await until(pilot, ready(app, "alpha"))
        await pilot.press(*"list", "enter")
        await until(pilot, ready(app, "alpha"))
        prompt = app.main.query_one("#prompt")
        await pilot.press(*"draft")
        await pilot.press("up")
        assert prompt.value == "list"  # type: ignore[attr-defined]
        await pilot.press("up", "up")
        assert prompt.value == "hello"  # type: ignore[attr-defined]
        await pilot.press("down", "down")
        assert prompt.value == "draft"  # type: ignore[attr-defined]


async def test_the_queue_strip_and_dashboard_show_a_task_enqueued_from_the_dashboard(
    tmp_path: Path,
) -> None:
    app = make_app(write_project(tmp_path))
    async with app.run_test(size=(120, 30)) as pilot:
        await app.wait_ready()
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press(*"count the files", "enter")
        dashboard = app.screen
        await until(
            pilot,
            lambda: any(t.status.value == "done" for t in getattr(dashboard, "tasks", [])),
        )
        await dashboard.reload()  # type: ignore[attr-defined]
        await pilot.pause()
        detail = str(dashboard.query_one("#detail-text").render())
        assert "count the files" in detail and "Counted: 3." in detail
        await pilot.press("escape")
        await app.refresh_queues()
        strip = str(app.main.query_one("#queue-strip").render())
        assert "work: 0 running 0 queued 1 done 0 failed" in strip


async def test_the_workflow_screen_lists_the_runs_of_the_project(tmp_path: Path) -> None:
    from aegis.workflow.runner import RunRecord, RunStatus

    project = write_project(tmp_path)
    runs = project.state_dir / "workflows"
    runs.mkdir(parents=True)
    record = RunRecord(
        "20250101-100000-review-ab12",
        "review",
        {"base": "main"},
        status=RunStatus.failed,
        error="no diff to review",
        log=[("2025-01-01T10:00:01Z", "looking at the diff")],
        started_at=1_735_725_600.0,
        finished_at=1_735_725_612.0,
    )
    import json

    (runs / f"{record.id}.json").write_text(json.dumps(record.as_dict()))
    app = make_app(project)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.wait_ready()
        await pilot.press("f3")
        await until(pilot, lambda: bool(getattr(app.screen, "runs", [])))
        await pilot.pause()
        log = str(app.screen.query_one("#log-text").render())
        assert "looking at the diff" in log and "no diff to review" in log
        await pilot.press("escape")
        assert app.screen is app.main
