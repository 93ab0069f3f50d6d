"""Events become blocks, and the height index stays right whatever changes."""

from __future__ import annotations

import random

from rich.console import Console

from aegis.events import (
    AssistantMessage,
    Error,
    Plan,
    PlanEntry,
    SessionStarted,
    StateChanged,
    StopReason,
    TextDelta,
    Thinking,
    ToolCall,
    ToolKind,
    ToolResult,
    TurnEnd,
    Usage,
    UserMessage,
)
from aegis_tui.blocks import AssistantBlock, PlanBlock, ThinkingBlock, ToolBlock, UserBlock
from aegis_tui.timeline import Timeline


def test_streamed_deltas_grow_one_block_that_the_final_message_settles() -> None:
    timeline = Timeline()
    for chunk in ("Hel", "lo ", "there"):
        timeline.apply(TextDelta(chunk))
    assert len(timeline) == 1 and timeline.blocks[0].plain() == "Hello there"
    timeline.apply(AssistantMessage("Hello there!"))
    block = timeline.blocks[0]
    assert isinstance(block, AssistantBlock) and not block.streaming
    assert block.plain() == "Hello there!" and len(timeline) == 1


def test_a_tool_result_lands_in_its_call_even_after_other_blocks() -> None:
    timeline = Timeline()
    timeline.apply(ToolCall("t1", "Bash", ToolKind.execute, {"command": "ls"}))
    timeline.apply(Thinking("meanwhile"))
    timeline.apply(ToolResult("t1", ok=False, output="ls: denied"))
    tool = timeline.blocks[0]
    assert isinstance(tool, ToolBlock) and tool.result is not None
    assert tool.plain().startswith("✗ execute Bash  ls") and "ls: denied" in tool.plain()
    assert isinstance(timeline.blocks[1], ThinkingBlock) and len(timeline) == 2


def test_a_plan_replaces_the_plan_just_before_it() -> None:
    timeline = Timeline()
    timeline.apply(Plan((PlanEntry("read"), PlanEntry("write"))))
    timeline.apply(Plan((PlanEntry("read", "completed"), PlanEntry("write", "in_progress"))))
    assert len(timeline) == 1 and isinstance(timeline.blocks[0], PlanBlock)
    assert timeline.blocks[0].plain() == "☰ plan\n☑ read\n◐ write"
    timeline.apply(UserMessage("next", sender="queue:review"))
    timeline.apply(Plan((PlanEntry("again"),)))
    assert len(timeline) == 3


def test_inbox_messages_show_their_sender() -> None:
    timeline = Timeline()
    timeline.apply(UserMessage("task done", sender="agent:lucid-knuth"))
    timeline.apply(UserMessage("hi"))
    first, second = timeline.blocks
    assert isinstance(first, UserBlock) and first.plain() == "▌ agent:lucid-knuth\ntask done"
    assert second.plain() == "▌ you\nhi"


def test_turn_endings_errors_and_session_notes_are_shown_state_and_usage_are_not() -> None:
    timeline = Timeline()
    assert timeline.apply(SessionStarted("s-1", model="opus", resumed=True))
    assert not timeline.apply(StateChanged("busy"))
    assert not timeline.apply(Usage(10, 5))
    assert not timeline.apply(TurnEnd(StopReason.end_turn, text=""))
    assert timeline.apply(TurnEnd(StopReason.cancelled))
    assert timeline.apply(Error("rate limited", fatal=True))
    assert timeline.apply(TurnEnd(StopReason.error, error="the CLI died"))
    texts = [block.plain() for block in timeline.blocks]
    assert texts == [
        "── session resumed · model opus",
        "⊘ interrupted",
        "✖ rate limited (the session cannot go on)",
        "✖ the turn failed: the CLI died",
    ]


def test_a_turn_whose_text_came_only_at_its_end_still_shows_it() -> None:
    timeline = Timeline()
    timeline.apply(UserMessage("hi"))
    timeline.apply(TurnEnd(StopReason.end_turn, text="only at the end"))
    assert timeline.blocks[-1].plain() == "only at the end"


def test_the_height_index_matches_the_heights_after_random_changes() -> None:
    rng = random.Random(7)
    console = Console(width=60, force_terminal=True)
    timeline = Timeline()
    timeline.set_width(60)
    for number in range(300):
        choice = rng.random()
        if choice < 0.3:
            timeline.apply(UserMessage("word " * rng.randint(1, 40)))
        elif choice < 0.5:
            timeline.apply(TextDelta("more text " * rng.randint(1, 10)))
        elif choice < 0.7:
            timeline.apply(ToolCall(f"t{number}", "Read", ToolKind.read, {"path": "x"}))
            timeline.apply(ToolResult(f"t{number}", True, "\n".join("l" * rng.randint(0, 9))))
        elif choice < 0.8:
            timeline.toggle(rng.randrange(len(timeline)))
        else:
            timeline.materialize(rng.randrange(len(timeline)), console)
        if number % 50 == 0:
            timeline.set_width(rng.choice((40, 60, 80)))
        heights = [timeline.height(i) for i in range(len(timeline))]
        starts = [sum(heights[:i]) for i in range(len(timeline))]
        assert timeline.total == sum(heights)
        for index in rng.sample(range(len(timeline)), min(5, len(timeline))):
            assert timeline.offset(index) == starts[index]
            for line in (starts[index], starts[index] + heights[index] - 1):
                assert timeline.block_at(line) == index


def test_a_rendered_block_has_an_exact_height_and_lines_as_wide_as_the_view() -> None:
    console = Console(width=50, force_terminal=True)
    timeline = Timeline()
    timeline.set_width(50)
    timeline.apply(AssistantMessage("# Title\n\nA paragraph " + "long " * 30 + "\n\n- one\n- two"))
    lines = timeline.materialize(0, console)
    assert timeline.is_exact(0) and timeline.height(0) == len(lines) == timeline.total
    assert all(line.cell_length == 50 for line in lines)
