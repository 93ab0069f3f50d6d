"""The fake model against the real CLIs, driven by the raw protocol clients (no aegis code).

Each test starts one CLI in an isolated home, talks to it over its structured protocol and
checks both sides: what the client saw and what reached the fake model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, shell_call
from tests.support.clis import CLI_NAMES, CliName
from tests.support.rawclients import RawSession, start_raw_session

# No skip when a CLI is missing: `make test` installs them, and a missing one must fail.
CLIS = list(CLI_NAMES)


def _run_echo(request: ModelRequest) -> Reply:
    return Reply(text="running it", tool_calls=[shell_call(request, "echo hi-from-tool")])


@pytest.fixture(params=CLIS)
def session(
    request: pytest.FixtureRequest, server: FakeModelServer, tmp_path: Path
) -> Iterator[RawSession]:
    """One CLI, started against ``server``, with a session open; killed afterwards."""
    server.script = Script().on(r"^please run echo$", _run_echo)
    with start_raw_session(request.param, tmp_path, server.url) as raw:
        yield raw


def test_two_turns_share_one_session(session: RawSession, server: FakeModelServer) -> None:
    first = session.turn("hello one")
    second = session.turn("hello two")

    assert first.text == "echo: hello one"
    assert second.text == "echo: hello two"
    assert first.stop_reason == second.stop_reason == "end_turn"
    # Exactly two turns reached the model: side calls (opencode's title) are not counted.
    turns = server.requests
    assert [r.user_text for r in turns] == ["hello one", "hello two"]
    # The second request carries the first exchange: the CLI kept one conversation.
    assert turns[1].prompts == ("hello one", "hello two")
    assert {r.api for r in turns} == {
        {"claude": "anthropic", "gemini": "gemini", "opencode": "openai"}[session.name]
    }


def test_shell_tool_round_trip(session: RawSession, server: FakeModelServer) -> None:
    turn = session.turn("please run echo")

    first, second = server.wait_for_requests(2)
    assert first.user_text == "please run echo"
    assert not first.tool_results
    assert len(second.tool_results) == 1
    result = second.tool_results[0]
    assert (
        result.name
        == {"claude": "Bash", "gemini": "run_shell_command", "opencode": "bash"}[session.name]
    )
    assert "hi-from-tool" in result.output
    assert not result.is_error
    assert "tool said:" in turn.text
    assert "hi-from-tool" in turn.text
    assert _client_saw_tool_run(session.name, turn.events)


def _client_saw_tool_run(name: CliName, events: list[dict[str, Any]]) -> bool:
    """Whether the protocol stream reported the shell call as run (each CLI says it its way)."""
    if name == "claude":
        # The tool result comes back on stdout as a user message with a tool_result block.
        return any(
            block.get("type") == "tool_result" and "hi-from-tool" in str(block.get("content"))
            for line in events
            if line.get("type") == "user"
            for block in line["message"]["content"]
            if isinstance(block, dict)
        )
    # ACP: a tool_call of kind execute, then a tool_call_update that completes it.
    started = [e for e in events if e.get("sessionUpdate") == "tool_call"]
    completed = [
        e
        for e in events
        if e.get("sessionUpdate") == "tool_call_update" and e.get("status") == "completed"
    ]
    return bool(started) and started[0].get("kind") == "execute" and bool(completed)
