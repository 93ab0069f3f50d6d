"""The Line API view: long transcripts render only what is near the view."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from aegis.events import (
    AssistantMessage,
    Event,
    TextDelta,
    ToolCall,
    ToolKind,
    ToolResult,
    UserMessage,
)
from aegis_tui.widgets.transcript import TranscriptView

pytestmark = pytest.mark.anyio


class ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TranscriptView()


def long_history(messages: int) -> list[Event]:
    events: list[Event] = []
    for number in range(messages):
        if number % 3 == 0:
            events.append(UserMessage(f"question {number}"))
        elif number % 3 == 1:
            events.append(AssistantMessage(f"answer **{number}**\n\n- a point\n- another"))
        else:
            events.append(ToolCall(f"c{number}", "Bash", ToolKind.execute, {"command": "ls"}))
            events.append(ToolResult(f"c{number}", True, "a\nb\nc\nd"))
    return events


def rendered(view: TranscriptView) -> int:
    return sum(1 for block in view.timeline.blocks if block.rendered_height(view.timeline.width))


async def test_ten_thousand_messages_render_only_the_blocks_near_the_view() -> None:
    app = ViewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TranscriptView)
        for event in long_history(10_000):
            view.add_event(event)
        await pilot.pause()
        assert len(view.timeline) == 10_000
        assert rendered(view) < 40
        assert view.visible_text().endswith("question 9999")
        assert view.scroll_y == view.max_scroll_y  # it follows the end

        view.scroll_to(y=view.timeline.offset(5000), animate=False)
        await pilot.pause()
        assert not view.follow
        assert "answer 5000" in view.visible_text() or "question 5001" in view.visible_text()
        assert rendered(view) < 80

        view.add_event(TextDelta("new at the end"))  # the user reads the middle: stay there
        await pilot.pause()
        assert "new at the end" not in view.visible_text()
        view.scroll_end(animate=False)
        await pilot.pause()
        assert view.follow and view.visible_text().endswith("new at the end")


async def test_a_click_on_a_tool_block_expands_its_output_and_keeps_the_view() -> None:
    app = ViewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TranscriptView)
        view.add_event(ToolCall("c1", "Bash", ToolKind.execute, {"command": "seq 9"}))
        view.add_event(ToolResult("c1", True, "\n".join(str(n) for n in range(1, 10))))
        await pilot.pause()
        assert "… 6 more lines" in view.visible_text()
        await pilot.click(TranscriptView, offset=(5, 0))
        await pilot.pause()
        text = view.visible_text()
        assert "\n  9" in text and "more lines" not in text


async def test_a_streamed_reply_shown_after_its_first_chunk_shows_every_later_chunk() -> None:
    app = ViewApp()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TranscriptView)
        view.add_event(TextDelta("Hi! What"))
        await pilot.pause()
        assert view.visible_text().endswith("Hi! What")
        view.add_event(TextDelta(" shall we build today?"))
        await pilot.pause()
        assert view.visible_text().endswith("Hi! What shall we build today?")
