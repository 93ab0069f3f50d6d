"""session/update → canonical events, with the shapes gemini 0.61 and opencode 1.18 really send."""

from __future__ import annotations

from typing import Any

import pytest

from aegis.acp.translate import (
    AcpSessionState,
    HistoryEntry,
    UpdateTranslator,
    tool_kind,
    usage_from_prompt_response,
)
from aegis.events import (
    AssistantMessage,
    Event,
    Plan,
    PlanEntry,
    TextDelta,
    Thinking,
    ToolCall,
    ToolKind,
    ToolResult,
    Usage,
)


def translator() -> tuple[UpdateTranslator, list[Event]]:
    events: list[Event] = []
    return UpdateTranslator(events.append), events


def chunk(kind: str, text: str, message_id: str | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {"sessionUpdate": kind, "content": {"type": "text", "text": text}}
    if message_id is not None:
        update["messageId"] = message_id
    return update


def test_message_chunks_stream_and_the_turn_text_joins_every_message() -> None:
    t, events = translator()
    t.begin_turn()
    t.handle(chunk("agent_thought_chunk", "hmm"))
    t.handle(chunk("agent_message_chunk", "Hello ", "m1"))
    t.handle(chunk("agent_message_chunk", "there", "m1"))
    t.handle(chunk("agent_message_chunk", "Second.", "m2"))
    text = t.end_turn()
    assert events == [
        Thinking("hmm"),
        TextDelta("Hello "),
        TextDelta("there"),
        AssistantMessage("Hello there"),
        TextDelta("Second."),
        AssistantMessage("Second."),
    ]
    assert text == "Hello there\n\nSecond."


def test_a_second_prompt_within_the_turn_starts_a_message_of_its_own() -> None:
    # gemini sends no message ids: without the boundary, the text before a person's
    # reasons for a refusal and the answer to them would run together.
    t, events = translator()
    t.begin_turn()
    t.handle(chunk("agent_message_chunk", "I could not write it."))
    t.next_prompt()
    t.handle(chunk("agent_message_chunk", "Understood."))
    text = t.end_turn()
    assert [e for e in events if isinstance(e, AssistantMessage)] == [
        AssistantMessage("I could not write it."),
        AssistantMessage("Understood."),
    ]
    assert text == "I could not write it.\n\nUnderstood."


def test_opencode_tool_call_is_announced_once_with_its_complete_input() -> None:
    t, events = translator()
    t.begin_turn()
    t.handle(chunk("agent_message_chunk", "Let me look."))
    base = {"toolCallId": "call_1", "kind": "execute", "locations": [{"path": "/p"}]}
    t.handle(
        {
            **base,
            "sessionUpdate": "tool_call",
            "title": "bash",
            "status": "pending",
            "rawInput": {"cwd": "/p"},
        }
    )
    assert not any(isinstance(e, ToolCall) for e in events), "a pending call is not complete"
    full = {"command": "echo hi", "description": "Run echo hi", "cwd": "/p"}
    for _ in range(2):
        t.handle(
            {
                **base,
                "sessionUpdate": "tool_call_update",
                "status": "in_progress",
                "title": "echo hi",
                "rawInput": full,
            }
        )
    t.handle(
        {
            "sessionUpdate": "tool_call_update",
            "toolCallId": "call_1",
            "status": "completed",
            "content": [{"type": "content", "content": {"type": "text", "text": "hi\n"}}],
            "rawOutput": {"output": "hi\n"},
        }
    )
    t.end_turn()
    assert events[-3:] == [
        AssistantMessage("Let me look."),
        ToolCall("call_1", "bash", ToolKind.execute, full, ("/p",), "echo hi"),
        ToolResult("call_1", ok=True, output="hi\n"),
    ]


def test_gemini_tool_names_come_from_the_call_id() -> None:
    t, events = translator()
    t.begin_turn()
    t.handle(
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "run_shell_command__call_1_15",
            "status": "in_progress",
            "title": "echo hi",
            "kind": "execute",
            "content": [],
        }
    )
    t.handle(
        {
            "sessionUpdate": "tool_call_update",
            "toolCallId": "run_shell_command__call_1_15",
            "status": "failed",
            "content": [],
        }
    )
    t.end_turn()
    assert events == [
        ToolCall(
            "run_shell_command__call_1_15", "run_shell_command", ToolKind.execute, title="echo hi"
        ),
        ToolResult("run_shell_command__call_1_15", ok=False, output=""),
    ]


def test_a_call_first_seen_in_a_permission_request_is_announced_then() -> None:
    t, events = translator()
    t.begin_turn()
    asked = {
        "toolCallId": "mcp_test_record__call_1",
        "status": "pending",
        "kind": "other",
        "title": "record (test MCP Server)",
    }
    assert t.permission_asked(asked, allowed=True) is ToolKind.other
    assert events == [
        ToolCall(
            "mcp_test_record__call_1",
            "mcp_test_record",
            ToolKind.other,
            title="record (test MCP Server)",
        ),
    ]
    t.handle(
        {
            "sessionUpdate": "tool_call_update",
            "toolCallId": "mcp_test_record__call_1",
            "status": "completed",
            "content": [{"type": "content", "content": {"type": "text", "text": "recorded"}}],
        }
    )
    assert events[-1] == ToolResult("mcp_test_record__call_1", ok=True, output="recorded")


def test_a_refused_call_that_never_ends_gets_a_failed_result_with_the_reason() -> None:
    t, events = translator()
    t.begin_turn()
    t.handle(
        {
            "sessionUpdate": "tool_call",
            "toolCallId": "c",
            "title": "rm -rf /",
            "kind": "execute",
            "status": "pending",
            "_meta": {"toolName": "Bash"},
        }
    )
    t.permission_asked({"toolCallId": "c"}, allowed=False, refusal="aegis refused this")
    t.end_turn()
    assert events == [
        ToolCall("c", "Bash", ToolKind.execute, title="rm -rf /"),
        ToolResult("c", ok=False, output="aegis refused this"),
    ]


def test_plans_become_plan_events() -> None:
    t, events = translator()
    t.begin_turn()
    t.handle(
        {
            "sessionUpdate": "plan",
            "entries": [
                {"content": "read", "priority": "high", "status": "completed"},
                {"content": "write", "priority": "low", "status": "pending"},
            ],
        }
    )
    assert events == [
        Plan((PlanEntry("read", "completed", "high"), PlanEntry("write", "pending", "low")))
    ]


def test_nothing_is_emitted_between_turns_and_a_replay_is_history() -> None:
    t, events = translator()
    t.handle(chunk("agent_message_chunk", "late chunk of an interrupted turn"))
    t.handle({"sessionUpdate": "tool_call_update", "toolCallId": "x", "status": "completed"})
    t.begin_replay()
    t.handle(chunk("user_message_chunk", "hello", "u1"))
    t.handle(chunk("agent_message_chunk", "Hi ", "a1"))
    t.handle(chunk("agent_message_chunk", "you", "a1"))
    t.handle(
        {"sessionUpdate": "tool_call", "toolCallId": "t", "title": "echo hi", "status": "completed"}
    )
    t.handle(chunk("user_message_chunk", "again", "u2"))
    t.end_replay()
    assert events == []
    assert t.history == [
        HistoryEntry("user", "hello"),
        HistoryEntry("assistant", "Hi you"),
        HistoryEntry("tool", "echo hi"),
        HistoryEntry("user", "again"),
    ]


def test_session_state_follows_mode_option_command_title_and_context_updates() -> None:
    state = AcpSessionState()
    t = UpdateTranslator(lambda e: None, state)
    state.take_session_result(
        {
            "sessionId": "s",
            "modes": {
                "availableModes": [{"id": "default"}, {"id": "plan"}],
                "currentModeId": "default",
            },
            "models": {"availableModels": [{"modelId": "m1"}], "currentModelId": "m1"},
        }
    )
    assert state.current_mode == "default" and state.model == "m1"
    t.handle({"sessionUpdate": "current_mode_update", "currentModeId": "plan"})
    t.handle(
        {
            "sessionUpdate": "available_commands_update",
            "availableCommands": [{"name": "init", "description": "set up"}],
        }
    )
    t.handle(
        {
            "sessionUpdate": "config_option_update",
            "configOptions": [
                {
                    "id": "model",
                    "category": "model",
                    "type": "select",
                    "currentValue": "fake/m2",
                    "options": [{"value": "fake/m2", "name": "m2"}],
                }
            ],
        }
    )
    t.handle({"sessionUpdate": "session_info_update", "title": "Fixing the build"})
    t.handle(
        {
            "sessionUpdate": "usage_update",
            "used": 1200,
            "size": 200000,
            "cost": {"amount": 0.5, "currency": "USD"},
        }
    )
    t.handle({"sessionUpdate": "something_new"})
    assert state.current_mode == "plan"
    assert state.available_commands == [{"name": "init", "description": "set up"}]
    assert state.model == "fake/m2", "a model config option wins over the models list"
    assert state.title == "Fixing the build"
    assert (state.context_used, state.context_size, state.cost) == (1200, 200000, 0.5)
    assert "unknown kind 'something_new'" in t.diagnostics.tail()


def test_turn_cost_is_the_growth_of_the_session_cost() -> None:
    t, _ = translator()
    t.handle(
        {
            "sessionUpdate": "usage_update",
            "used": 1,
            "size": 9,
            "cost": {"amount": 1.25, "currency": "USD"},
        }
    )
    t.begin_turn()
    t.handle(
        {
            "sessionUpdate": "usage_update",
            "used": 2,
            "size": 9,
            "cost": {"amount": 1.5, "currency": "USD"},
        }
    )
    t.end_turn()
    usage = t.turn_usage({"stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 4}})
    assert usage == Usage(3, 4, cost_usd=0.25)
    t.begin_turn()
    t.end_turn()
    assert t.turn_usage({"stopReason": "end_turn"}) is None


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        # opencode 1.18: cache counted apart from inputTokens (total = sum of the parts).
        (
            {"usage": {"inputTokens": 50, "outputTokens": 7, "totalTokens": 57}},
            Usage(50, 7),
        ),
        (
            {
                "usage": {
                    "inputTokens": 10,
                    "outputTokens": 5,
                    "cachedReadTokens": 30,
                    "cachedWriteTokens": 2,
                    "thoughtTokens": 3,
                    "totalTokens": 50,
                }
            },
            Usage(42, 8, 30, 2),
        ),
        # An agent whose inputTokens already include the cache reads.
        (
            {
                "usage": {
                    "inputTokens": 40,
                    "outputTokens": 5,
                    "cachedReadTokens": 30,
                    "totalTokens": 45,
                }
            },
            Usage(40, 5, 30, 0),
        ),
        # gemini 0.61: _meta.quota.token_count.
        (
            {
                "stopReason": "end_turn",
                "_meta": {
                    "quota": {
                        "token_count": {"input_tokens": 12283, "output_tokens": 42},
                        "model_usage": [],
                    }
                },
            },
            Usage(12283, 42),
        ),
        ({"stopReason": "end_turn", "_meta": {}}, None),
    ],
)
def test_usage_from_prompt_responses(result: dict[str, Any], expected: Usage | None) -> None:
    assert usage_from_prompt_response(result) == expected


def test_tool_kinds_map_onto_the_canonical_kinds() -> None:
    assert tool_kind("delete") is ToolKind.edit
    assert tool_kind("move") is ToolKind.edit
    assert tool_kind("fetch") is ToolKind.fetch
    assert tool_kind("switch_mode") is ToolKind.other
    assert tool_kind("teleport") is ToolKind.other
    assert tool_kind(None) is ToolKind.other
