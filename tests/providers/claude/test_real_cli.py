"""ClaudeDriver driving the real claude CLI (pinned 2.1.331) against the fake model.

One claude session serves every test of this module, as one serves many turns in
aegis: each test is a turn (or two) on it, and checks both what the driver emitted
and what reached the fake model or the test MCP server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anyio
import pytest

from aegis.config.enums import Effort, Permission
from aegis.events import (
    AssistantMessage,
    SessionStarted,
    StopReason,
    TextDelta,
    ToolCall,
    ToolKind,
    ToolResult,
    TurnEnd,
    Usage,
)
from aegis_claude.config import ClaudeCode
from aegis_claude.driver import ClaudeDriver
from tests.providers.claude.helpers import Recorder, open_driver
from tests.support.clis import claude_env, cli_path
from aegis.testing.fakemodel import (
    FakeModelServer,
    ModelRequest,
    Reply,
    Script,
    mcp_call,
    shell_call,
)
from aegis.testing.mcp_server import McpTestServer

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-4-5"
PREAMBLE = "You are the aegis test agent, number 7."
TOKEN = "mcp-test-token"
SLOW_WORDS = "slow words that keep coming one at a time until someone stops them"


def _record(request: ModelRequest) -> Reply:
    return Reply(tool_calls=[mcp_call(request, "aegis", "record", {"note": "from-claude"})])


def _script() -> Script:
    return (
        Script()
        .on(
            r"run the echo",
            lambda r: Reply(text="Running.", tool_calls=[shell_call(r, "echo hi-from-tool")]),
        )
        .on(r"record a note", _record)
        # claude folds an interrupted prompt into the next message: match the newer one first.
        .on(r"after the interrupt", "clean answer")
        .on(r"talk slowly", Reply(text=SLOW_WORDS, chunks=12, chunk_delay=0.4))
    )


@dataclass
class Shared:
    driver: ClaudeDriver
    recorder: Recorder
    started: SessionStarted
    model: FakeModelServer
    mcp: McpTestServer


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(_script()) as server:
        yield server


@pytest.fixture(scope="module")
def mcp() -> Iterator[McpTestServer]:
    with McpTestServer(token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
async def shared(
    model: FakeModelServer, mcp: McpTestServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shared]:
    tmp = tmp_path_factory.mktemp("claude")
    project = tmp / "project"
    project.mkdir()
    recorder = Recorder()
    config = ClaudeCode(
        executable=str(cli_path("claude")),
        permission=Permission.full,
        model=MODEL,
        effort=Effort.low,
        strict_mcp_config=True,
    )
    driver = open_driver(
        config,
        project,
        recorder,
        env=claude_env(tmp, model.url).env,
        mcp_servers=(mcp.mcp_server("aegis"),),
        preamble=PREAMBLE,
    )
    async with driver:
        with anyio.fail_after(60):
            started = await driver.start()
        yield Shared(driver, recorder, started, model, mcp)


async def _turn(shared: Shared, text: str) -> tuple[TurnEnd, Recorder]:
    mark = shared.recorder.mark()
    with anyio.fail_after(60):
        end = await shared.driver.prompt(text)
    return end, Recorder(shared.recorder.since(mark))


async def test_session_starts_with_its_id_and_model(shared: Shared) -> None:
    assert shared.started.harness_session_id == shared.driver.harness_session_id
    assert re.fullmatch(r"[0-9a-f-]{36}", shared.started.harness_session_id)
    assert shared.started.model == MODEL
    assert not shared.started.resumed
    assert shared.recorder.events[0] == shared.started


async def test_two_turns_share_one_session(shared: Shared) -> None:
    one, first = await _turn(shared, "hello one")
    two, second = await _turn(shared, "hello two")

    assert (one.text, two.text) == ("echo: hello one", "echo: hello two")
    assert one.stop_reason is two.stop_reason is StopReason.end_turn
    for events, text in ((first, "echo: hello one"), (second, "echo: hello two")):
        assert "".join(d.text for d in events.of(TextDelta)) == text
        assert events.of(AssistantMessage) == [AssistantMessage(text)]
        [usage] = events.of(Usage)
        assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.cost_usd
        assert events.events[-1] == events.of(TurnEnd)[0]
    # The second request carried the first exchange: one conversation, one process.
    last = shared.model.requests[-1]
    assert last.prompts[-2:] == ("hello one", "hello two")
    assert last.model == MODEL
    assert PREAMBLE in last.system


async def test_shell_tool_round_trip(shared: Shared) -> None:
    end, events = await _turn(shared, "please run the echo")

    [call] = events.of(ToolCall)
    assert (call.name, call.kind) == ("Bash", ToolKind.execute)
    assert call.input["command"] == "echo hi-from-tool"
    [result] = events.of(ToolResult)
    assert result.id == call.id and result.ok
    assert "hi-from-tool" in result.output
    assert end.stop_reason is StopReason.end_turn
    # Every assistant message of the turn (the fake model echoes the tool's output).
    assert end.text.startswith("Running.\n\ntool said: hi-from-tool")
    # claude may append a <system-reminder> to what it gives the model.
    assert shared.model.requests[-1].tool_results[0].output.startswith("hi-from-tool")


async def test_mcp_tool_call_reaches_the_server(shared: Shared) -> None:
    end, events = await _turn(shared, "record a note please")

    [call] = events.of(ToolCall)
    assert (call.name, call.kind) == ("mcp__aegis__record", ToolKind.other)
    assert call.input == {"note": "from-claude"}
    [result] = events.of(ToolResult)
    assert result.ok and "recorded: from-claude" in result.output
    assert end.stop_reason is StopReason.end_turn
    [recorded] = shared.mcp.wait_for_calls(1)
    assert recorded.note == "from-claude"
    assert recorded.headers["authorization"] == f"Bearer {TOKEN}"
    # Offered directly (ENABLE_TOOL_SEARCH=false), not deferred behind ToolSearch.
    assert "mcp__aegis__record" in shared.model.requests[-2].tools
    assert "mcp__aegis__record" in shared.driver.tools


async def test_interrupt_cancels_a_streaming_turn_and_the_next_turn_is_clean(
    shared: Shared,
) -> None:
    mark = shared.recorder.mark()

    async def interrupt_once_streaming() -> None:
        while not shared.recorder.of(TextDelta, mark):
            await anyio.sleep(0.01)
        await shared.driver.interrupt()

    async with anyio.create_task_group() as group:
        group.start_soon(interrupt_once_streaming)
        with anyio.fail_after(10):
            cancelled = await shared.driver.prompt("talk slowly")
    after, events = await _turn(shared, "after the interrupt")

    assert cancelled.stop_reason is StopReason.cancelled
    # It stopped early: the model was still streaming when the turn ended.
    assert cancelled.duration_s < 4
    assert after.stop_reason is StopReason.end_turn and after.text == "clean answer"
    assert events.of(TurnEnd) == [after]
    assert not any(word in after.text for word in ("slow", "coming"))
    streamed = "".join(d.text for d in events.of(TextDelta))
    assert streamed == "clean answer"
