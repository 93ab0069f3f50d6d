"""stream-json → canonical events, on lines captured from the real claude 2.1.331.

The fixtures (``fixtures/*.jsonl``) hold what claude printed; ``fixtures/capture.py``
records them again. A few cases claude does not print against the fake model (a
subagent, partial messages off, a todo list) use handwritten lines of the same shape.
"""

from __future__ import annotations

from typing import Any

import pytest

from aegis.events import (
    AssistantMessage,
    Error,
    Event,
    Plan,
    PlanEntry,
    StopReason,
    TextDelta,
    Thinking,
    ToolCall,
    ToolKind,
    ToolResult,
    TurnEnd,
    Usage,
)
from aegis_claude.tools import plan_entries, tool_kind, tool_paths, tool_title
from aegis_claude.translate import Translator, error_of
from tests.providers.claude.helpers import fixture_lines, turn_lines

JSON = dict[str, Any]


def _turns(name: str) -> list[list[JSON]]:
    return list(turn_lines(fixture_lines(name)))


def _translate(lines: list[JSON], translator: Translator | None = None) -> list[Event]:
    translator = translator or Translator()
    translator.begin_turn()
    return [event for line in lines for event in translator.feed(line)]


def _of(events: list[Event], kind: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def test_simple_turn_streams_text_and_ends_with_usage() -> None:
    first, _ = _turns("two_turns")
    events = _translate(first)

    deltas = "".join(e.text for e in _of(events, TextDelta))
    assert deltas == "echo: hello one"
    assert _of(events, AssistantMessage) == [AssistantMessage("echo: hello one")]
    *_, usage, end = events
    assert isinstance(usage, Usage) and isinstance(end, TurnEnd)
    assert end.stop_reason is StopReason.end_turn
    assert end.text == "echo: hello one"
    assert end.usage == usage
    assert usage.input_tokens > 1000 and usage.output_tokens > 0
    assert usage.cost_usd is not None and usage.cost_usd > 0
    assert 0 < end.duration_s < 30


def test_init_line_reports_session_model_and_tools() -> None:
    translator = Translator()
    first, _ = _turns("two_turns")
    _translate(first, translator)

    init = next(line for line in first if line.get("subtype") == "init")
    assert translator.session_id == init["session_id"]
    assert translator.model == init["model"]
    assert "Bash" in translator.tools and "Read" in translator.tools


def test_cost_is_per_turn_although_claude_reports_a_running_total() -> None:
    translator = Translator()
    first, second = _turns("two_turns")
    cost_one = _of(_translate(first, translator), Usage)[0].cost_usd
    cost_two = _of(_translate(second, translator), Usage)[0].cost_usd

    total_two = second[-1]["total_cost_usd"]
    assert cost_one is not None and cost_two is not None
    assert cost_two == pytest.approx(total_two - first[-1]["total_cost_usd"])
    assert cost_one + cost_two == pytest.approx(total_two)


def test_cost_falls_back_to_the_growth_of_the_running_total() -> None:
    translator = Translator()
    results = [
        {"type": "result", "subtype": "success", "total_cost_usd": total, "usage": {}}
        for total in (0.5, 0.75)
    ]
    costs = [_of(_translate([r], translator), Usage)[0].cost_usd for r in results]

    assert costs == [0.5, 0.25]


def test_cache_tokens_count_as_input() -> None:
    result = {
        "type": "result",
        "subtype": "success",
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 300,
            "cache_creation_input_tokens": 50,
            "output_tokens": 7,
        },
    }
    [usage, _] = _translate([result])

    assert usage == Usage(
        input_tokens=360, output_tokens=7, cache_read_tokens=300, cache_write_tokens=50
    )


def test_shell_tool_call_and_result() -> None:
    [turn] = _turns("tool_call")
    events = _translate(turn)

    [call] = _of(events, ToolCall)
    assert call.name == "Bash" and call.kind is ToolKind.execute
    assert call.input["command"] == "echo hi-from-tool"
    assert call.title == "Bash: Run echo hi-from-tool"
    [result] = _of(events, ToolResult)
    assert result == ToolResult(call.id, ok=True, output="hi-from-tool")
    # The call comes before its result, and both inside the turn.
    assert events.index(call) < events.index(result) < len(events) - 1
    end = events[-1]
    assert isinstance(end, TurnEnd)
    assert end.text == "Running.\n\ntool said: hi-from-tool"
    assert [m.text for m in _of(events, AssistantMessage)] == [
        "Running.",
        "tool said: hi-from-tool",
    ]


def test_refused_tool_result_is_not_ok() -> None:
    [turn] = _turns("permission_denied")
    events = _translate(turn)

    [result] = _of(events, ToolResult)
    assert not result.ok
    assert result.output == "aegis refused this execute tool"


def test_thinking_streams_once() -> None:
    [turn] = _turns("thinking")
    events = _translate(turn)

    assert "".join(t.text for t in _of(events, Thinking)) == "let me ponder this"
    assert _of(events, AssistantMessage) == [AssistantMessage("done thinking")]


def test_interrupted_turn_ends_cancelled_even_unannounced() -> None:
    interrupted, after = _turns("interrupt")

    end = _translate(interrupted)[-1]
    assert isinstance(end, TurnEnd) and end.stop_reason is StopReason.cancelled
    assert _translate(after)[-1] == TurnEnd(
        StopReason.end_turn,
        "quick",
        after[-1]["duration_ms"] / 1000,
        _of(_translate(after), Usage)[0],
    )


def test_api_error_is_fatal_and_carries_claudes_message() -> None:
    [turn] = _turns("api_error")
    events = _translate(turn)

    # The synthetic assistant message claude writes for the error is not model text.
    assert not _of(events, AssistantMessage) and not _of(events, TextDelta)
    [error] = _of(events, Error)
    assert error.message == "API Error: 400 scripted bad request"
    assert error.fatal and error.code == "api_error_400"
    end = events[-1]
    assert isinstance(end, TurnEnd)
    assert end.stop_reason is StopReason.error and end.error == error.message
    assert events.index(error) < len(events) - 1


def test_other_failures_end_only_the_turn() -> None:
    error = error_of({"type": "result", "subtype": "error_max_turns", "is_error": True})
    listed = error_of(
        {"type": "result", "subtype": "error_during_execution", "errors": ["boom", "bang"]}
    )

    assert not error.fatal and error.code == "error_max_turns"
    assert "error_max_turns" in error.message
    assert listed.message == "boom; bang" and not listed.fatal


@pytest.mark.parametrize(
    ("claude", "canonical"),
    [
        ("max_tokens", StopReason.max_tokens),
        ("refusal", StopReason.refusal),
        ("end_turn", StopReason.end_turn),
        (None, StopReason.end_turn),
    ],
)
def test_stop_reasons(claude: str | None, canonical: StopReason) -> None:
    result: JSON = {"type": "result", "subtype": "success", "stop_reason": claude, "usage": {}}

    end = _translate([result])[-1]
    assert isinstance(end, TurnEnd) and end.stop_reason is canonical


def _assistant(content: list[JSON], **extra: Any) -> JSON:
    return {
        "type": "assistant",
        "message": {"id": "msg_1", "role": "assistant", "content": content},
        "parent_tool_use_id": None,
        **extra,
    }


def test_without_partial_messages_the_whole_text_is_one_delta() -> None:
    events = _translate([_assistant([{"type": "text", "text": "all at once"}])])

    assert events == [TextDelta("all at once"), AssistantMessage("all at once")]


def test_subagent_text_is_not_the_agents_voice_but_its_tools_are_reported() -> None:
    line = _assistant(
        [
            {"type": "text", "text": "subagent musing"},
            {"type": "tool_use", "id": "t9", "name": "Read", "input": {"file_path": "/a.py"}},
        ],
        parent_tool_use_id="task-1",
    )
    delta = {
        "type": "stream_event",
        "parent_tool_use_id": "task-1",
        "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}},
    }

    events = _translate([delta, line])
    assert events == [
        ToolCall("t9", "Read", ToolKind.read, {"file_path": "/a.py"}, ("/a.py",), "Read: /a.py")
    ]


def test_todo_list_becomes_a_plan() -> None:
    todos = [
        {"content": "write tests", "status": "completed", "activeForm": "Writing tests"},
        {"content": "ship", "status": "in_progress", "activeForm": "Shipping"},
        {"content": "rest", "status": "someday"},
    ]
    line = _assistant(
        [{"type": "tool_use", "id": "t1", "name": "TodoWrite", "input": {"todos": todos}}]
    )

    call, plan = _translate([line])
    assert isinstance(call, ToolCall) and call.kind is ToolKind.think
    assert plan == Plan(
        (
            PlanEntry("write tests", "completed"),
            PlanEntry("ship", "in_progress"),
            PlanEntry("rest", "pending"),
        )
    )


def test_tool_result_content_blocks_are_joined() -> None:
    line = {
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "is_error": True,
                    "content": [
                        {"type": "text", "text": "line one"},
                        {"type": "image", "source": {}},
                        {"type": "text", "text": "line two"},
                    ],
                }
            ],
        },
    }

    assert _translate([line]) == [ToolResult("t1", ok=False, output="line one\nline two")]


def test_unknown_and_malformed_lines_are_ignored() -> None:
    lines: list[JSON] = [
        {"type": "brand_new_kind"},
        {"type": "assistant", "message": "not an object"},
        {"type": "stream_event", "event": {"type": "content_block_delta", "delta": None}},
        {"type": "user", "message": {"content": "plain text echo"}},
        {"type": "system", "subtype": "status", "status": "requesting"},
    ]

    assert _translate(lines) == []


def test_begin_turn_forgets_the_previous_turns_text() -> None:
    translator = Translator()
    first, second = _turns("two_turns")
    _translate(first, translator)
    end = _translate(second, translator)[-1]

    assert isinstance(end, TurnEnd) and end.text == "echo: hello two"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Read", ToolKind.read),
        ("Glob", ToolKind.search),
        ("Grep", ToolKind.search),
        ("Edit", ToolKind.edit),
        ("MultiEdit", ToolKind.edit),
        ("Write", ToolKind.edit),
        ("NotebookEdit", ToolKind.edit),
        ("Bash", ToolKind.execute),
        ("WebFetch", ToolKind.fetch),
        ("WebSearch", ToolKind.fetch),
        ("TodoWrite", ToolKind.think),
        ("Task", ToolKind.think),
        ("ExitPlanMode", ToolKind.other),
        ("mcp__aegis__handoff", ToolKind.other),
        ("SomethingNew", ToolKind.other),
    ],
)
def test_tool_kinds(name: str, kind: ToolKind) -> None:
    assert tool_kind(name) is kind


def test_paths_and_titles_come_from_the_input() -> None:
    assert tool_paths({"file_path": "/a.py", "path": "src", "other": "/x"}) == ("/a.py", "src")
    assert tool_paths({"notebook_path": "/n.ipynb", "file_path": 3}) == ("/n.ipynb",)
    assert tool_title("Bash", {"command": "ls -l\nrm x"}) == "Bash: ls -l"
    assert tool_title("Mystery", {}) == "Mystery"
    assert plan_entries({"todos": "nope"}) is None
