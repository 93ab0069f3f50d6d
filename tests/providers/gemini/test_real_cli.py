"""GeminiDriver driving the real gemini CLI (pinned 0.61.0) against the fake model.

One gemini session (with the test MCP server connected) serves the tests that only need
turns; those about a session's end (resume, API error, a killed CLI) start their own.
Each checks what the driver emitted and what reached the fake model or the MCP server.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from aegis.events import (
    AssistantMessage,
    Error,
    SessionStarted,
    StopReason,
    TextDelta,
    ToolCall,
    ToolKind,
    ToolResult,
    TurnEnd,
    Usage,
)
from aegis_gemini.driver import GeminiDriver
from tests.processes import group_members, wait_gone
from tests.providers.gemini.helpers import Recorder, isolated_gemini, open_driver, profile
from tests.support.clis import GEMINI_MODEL, CliEnv
from tests.support.fakemodel import (
    FakeModelServer,
    Reply,
    Script,
    mcp_call,
    shell_call,
)
from tests.support.fakemodel import Usage as FakeUsage
from tests.support.mcp_server import McpTestServer

pytestmark = pytest.mark.anyio

TOKEN = "mcp-test-token"
API_ERROR = "the fake model refuses: quota exceeded for this test"


def _script() -> Script:
    return (
        Script()
        .on(r"counted", Reply(text="counted reply", usage=FakeUsage(1234, 56)))
        .on(
            r"run the echo",
            lambda r: Reply(text="Running.", tool_calls=[shell_call(r, "echo hi-from-gemini")]),
        )
        .on(
            r"record a note",
            lambda r: Reply(tool_calls=[mcp_call(r, "test", "record", {"note": "from-gemini"})]),
        )
        .on(
            r"start a sleeper",
            lambda r: Reply(tool_calls=[shell_call(r, "sleep 300 > /dev/null 2>&1 &")]),
        )
        .on(r"talk slowly", Reply(text="too late", delay=30))
        .on(r"fail please", Reply(error_status=400, error_message=API_ERROR))
    )


@dataclass
class Shared:
    driver: GeminiDriver
    recorder: Recorder
    started: SessionStarted
    model: FakeModelServer
    mcp: McpTestServer
    env: CliEnv
    tmp: Path


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
    tmp = tmp_path_factory.mktemp("gemini")
    env = isolated_gemini(tmp, model.url)
    project = tmp / "project"
    project.mkdir()
    recorder = Recorder()
    driver = open_driver(
        profile(env), project, recorder, env, mcp_servers=(mcp.mcp_server("test"),)
    )
    async with driver:
        with anyio.fail_after(60):
            started = await driver.start()
        yield Shared(driver, recorder, started, model, mcp, env, tmp)


async def _turn(shared: Shared, text: str) -> tuple[TurnEnd, Recorder]:
    mark = shared.recorder.mark()
    with anyio.fail_after(60):
        end = await shared.driver.prompt(text)
    return end, Recorder(shared.recorder.events[mark:])


async def _request_arrived(model: FakeModelServer, count: int) -> None:
    await anyio.to_thread.run_sync(model.wait_for_requests, count, 30.0)


async def test_the_session_starts_with_gemini_s_id_and_the_profile_s_model(
    shared: Shared,
) -> None:
    assert shared.started == SessionStarted(
        shared.driver.harness_session_id or "", model=GEMINI_MODEL, resumed=False
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", shared.started.harness_session_id)
    assert shared.recorder.events[0] == shared.started
    argv = shared.driver.command()
    assert argv[1:] == ["--acp", "-m", GEMINI_MODEL, "--skip-trust", "--approval-mode", "yolo"]


async def test_two_turns_on_one_session_with_usage_and_the_profile_s_model(
    shared: Shared,
) -> None:
    one, first = await _turn(shared, "hello one")
    two, second = await _turn(shared, "counted hello two")

    assert (one.text, two.text) == ("echo: hello one", "counted reply")
    assert one.stop_reason is two.stop_reason is StopReason.end_turn
    for events, text in ((first, "echo: hello one"), (second, "counted reply")):
        assert "".join(d.text for d in events.of(TextDelta)) == text
        assert events.of(AssistantMessage) == [AssistantMessage(text)]
        assert [type(e) for e in events.events[-3:]] == [AssistantMessage, Usage, TurnEnd]
    # gemini's _meta.quota.token_count of the turn, as the fake model reported it.
    assert two.usage == second.of(Usage)[0] == Usage(input_tokens=1234, output_tokens=56)
    last = shared.model.requests[-1]
    assert last.prompts[-2:] == ("hello one", "counted hello two"), "one conversation"
    assert f"/models/{GEMINI_MODEL}:streamGenerateContent" in last.path
    assert shared.driver.failed is None


async def test_a_shell_tool_call_round_trips(shared: Shared) -> None:
    end, events = await _turn(shared, "please run the echo")

    [call] = events.of(ToolCall)
    assert (call.name, call.kind) == ("run_shell_command", ToolKind.execute)
    assert call.title == "echo hi-from-gemini"
    [result] = events.of(ToolResult)
    assert result.id == call.id and result.ok
    assert "hi-from-gemini" in result.output
    order = [type(e) for e in events.events]
    assert order.index(ToolCall) < order.index(ToolResult) < order.index(TurnEnd)
    assert end.ok and "hi-from-gemini" in end.text
    assert "hi-from-gemini" in shared.model.requests[-1].tool_results[0].output


async def test_an_mcp_tool_call_reaches_the_mcp_server(shared: Shared) -> None:
    calls_before = len(shared.mcp.calls)
    end, events = await _turn(shared, "record a note please")

    [call] = events.of(ToolCall)
    assert call.name.endswith("record") and "test" in call.name
    [result] = events.of(ToolResult)
    assert result.id == call.id and result.ok
    assert "recorded: from-gemini" in result.output
    assert end.ok
    recorded = shared.mcp.wait_for_calls(calls_before + 1)[calls_before]
    assert recorded.note == "from-gemini"
    assert recorded.headers["authorization"] == f"Bearer {TOKEN}"
    assert "mcp_test_record" in shared.model.requests[-2].tools


async def test_an_interrupted_turn_ends_cancelled_at_once_and_the_next_is_clean(
    shared: Shared,
) -> None:
    model, driver = shared.model, shared.driver
    mark = shared.recorder.mark()
    ends: list[TurnEnd] = []
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def turn() -> None:
                ends.append(await driver.prompt("talk slowly"))

            tg.start_soon(turn)
            await _request_arrived(model, len(model.requests) + 1)
            interrupted_at = anyio.current_time()
            await driver.interrupt()
        took = anyio.current_time() - interrupted_at
        after, events = await _turn(shared, "hello after the interrupt")

    [cancelled] = ends
    assert cancelled.stop_reason is StopReason.cancelled and cancelled.text == ""
    assert took < 2
    await anyio.to_thread.run_sync(model.wait_for_disconnects, 1, 10.0)
    assert after.ok and after.text == "echo: hello after the interrupt"
    assert [e.text for e in events.of(TextDelta)] and "too late" not in str(events.events)
    assert shared.recorder.of(TurnEnd, mark) == [cancelled, after]
    # gemini drops the cancelled prompt from its history.
    assert "talk slowly" not in model.requests[-1].prompts
    assert driver.failed is None


async def test_a_session_resumes_after_close_in_a_new_process(
    model: FakeModelServer, tmp_path: Path
) -> None:
    env = isolated_gemini(tmp_path, model.url)
    project = tmp_path / "project"
    project.mkdir()
    first_rec = Recorder()
    with anyio.fail_after(60):
        async with open_driver(profile(env), project, first_rec, env) as first:
            started = await first.start()
            await first.prompt("remember the word banana")
        # Resume within the minute gemini named the chat file after, whenever the test
        # runs: that is when gemini 0.61 would wipe the conversation (shelter_chat_files).
        minute = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M")
        [chat] = Path(env.env["HOME"]).glob(
            f".gemini/tmp/*/chats/session-*-{started.harness_session_id[:8]}.jsonl"
        )
        chat.rename(chat.with_name(f"session-{minute}-{started.harness_session_id[:8]}.jsonl"))

        rec = Recorder()
        async with open_driver(
            profile(env), project, rec, env, resume=started.harness_session_id
        ) as again:
            resumed = await again.start()
            assert rec.events == [resumed], "the replayed conversation is not new events"
            end = await again.prompt("which word was it?")

    assert resumed == SessionStarted(started.harness_session_id, GEMINI_MODEL, resumed=True)
    assert again.sheltered or datetime.now(UTC).strftime("%Y-%m-%dT%H-%M") != minute
    assert [(h.role, h.text) for h in again.history] == [
        ("user", "remember the word banana"),
        ("assistant", "echo: remember the word banana"),
    ]
    assert end.ok and end.text == "echo: which word was it?"
    assert model.requests[-1].prompts == ("remember the word banana", "which word was it?")
    # Nothing of the replay leaks into the first turn: it holds just its own reply.
    kinds = [type(e) for e in rec.events]
    assert kinds[0] is SessionStarted and set(kinds[1:-3]) == {TextDelta}
    assert kinds[-3:] == [AssistantMessage, Usage, TurnEnd]
    assert "".join(d.text for d in rec.of(TextDelta)) == end.text


async def test_nothing_is_left_running_after_the_session(
    model: FakeModelServer, mcp: McpTestServer, tmp_path: Path
) -> None:
    env = isolated_gemini(tmp_path, model.url)
    with anyio.fail_after(60):
        # With an MCP server connected gemini ignores the end of its input, so the close
        # has to signal it; the sleeper runs in a process group of gemini's making.
        async with open_driver(
            profile(env), tmp_path, Recorder(), env, mcp_servers=(mcp.mcp_server("test"),)
        ) as driver:
            await driver.start()
            end = await driver.prompt("start a sleeper")
            assert driver.process is not None
            pgid = driver.process.pid
            members = group_members(pgid)
            closing_at = anyio.current_time()
        took = anyio.current_time() - closing_at
    output = model.requests[-1].tool_results[0].output
    [sleeper] = [int(pid) for pid in re.findall(r"Background PIDs: (\d+)", output)]
    assert end.ok and members and sleeper not in members
    assert wait_gone([*members, sleeper], timeout=5) == []
    assert group_members(pgid) == []
    assert took < 5


async def test_resuming_an_unknown_session_fails_to_start_with_a_clear_error(
    model: FakeModelServer, tmp_path: Path
) -> None:
    from aegis.errors import DriverError

    env = isolated_gemini(tmp_path, model.url)
    with anyio.fail_after(60):
        async with open_driver(
            profile(env), tmp_path, Recorder(), env, resume="0b5e8c1e-0000-4000-8000-000000000000"
        ) as driver:
            with pytest.raises(DriverError, match=r"refused session/load") as raised:
                await driver.start()
    assert "working directory" in str(raised.value)


async def test_a_model_api_error_fails_the_session_with_gemini_s_message(
    model: FakeModelServer, tmp_path: Path
) -> None:
    env = isolated_gemini(tmp_path, model.url)
    rec = Recorder()
    with anyio.fail_after(60):
        async with open_driver(profile(env), tmp_path, rec, env) as driver:
            await driver.start()
            end = await driver.prompt("fail please")
            again = await driver.prompt("hello?")
    [error] = rec.of(Error)
    assert error.fatal and API_ERROR in error.message
    assert end.stop_reason is StopReason.error and end.error == error.message
    assert driver.failed == error.message
    assert end.duration_s < 10, "a 400 is not retried for long"
    assert again.stop_reason is StopReason.error, "a failed session takes no more turns"


async def test_a_killed_cli_fails_the_turn_at_once(model: FakeModelServer, tmp_path: Path) -> None:
    env = isolated_gemini(tmp_path, model.url)
    rec = Recorder()
    ends: list[TurnEnd] = []
    with anyio.fail_after(60):
        async with open_driver(profile(env), tmp_path, rec, env) as driver:
            await driver.start()
            assert driver.process is not None
            async with anyio.create_task_group() as tg:

                async def turn() -> None:
                    ends.append(await driver.prompt("talk slowly"))

                tg.start_soon(turn)
                await _request_arrived(model, len(model.requests) + 1)
                killed_at = anyio.current_time()
                os.killpg(driver.process.pid, signal.SIGKILL)
            took = anyio.current_time() - killed_at
    [error] = rec.of(Error)
    assert error.fatal and "killed by signal 9" in error.message
    assert ends[0].stop_reason is StopReason.error and ends[0].error == error.message
    assert rec.events[-2:] == [error, ends[0]]
    assert took < 2
