"""OpenCodeDriver driving the real opencode CLI (pinned 1.18.33) against the fake model.

One opencode session (with the test MCP server connected) serves the tests that only
need turns; those about a session's start or end (resume, API error, a killed CLI,
permissions, models) start their own. Each checks what the driver emitted and what
reached the fake model or the MCP server.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from aegis.errors import DriverError
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
from aegis_opencode.driver import OpenCodeDriver
from aegis.testing.processes import group_members, wait_gone
from tests.providers.opencode.helpers import (
    MODEL,
    Project,
    Recorder,
    isolated_opencode,
    open_driver,
    profile,
)
from aegis.testing.fakemodel import FakeModelServer, Reply, Script, mcp_call, shell_call
from aegis.testing.fakemodel import Usage as FakeUsage
from aegis.testing.mcp_server import McpTestServer

pytestmark = pytest.mark.anyio

TOKEN = "mcp-test-token"
API_ERROR = "the fake model refuses: quota exceeded for this test"


def _script() -> Script:
    return (
        Script()
        .on(r"counted", Reply(text="counted reply", usage=FakeUsage(1234, 56)))
        .on(
            r"run the echo",
            lambda r: Reply(text="Running.", tool_calls=[shell_call(r, "echo hi-from-opencode")]),
        )
        .on(
            r"record a note",
            lambda r: Reply(tool_calls=[mcp_call(r, "test", "record", {"note": "from-opencode"})]),
        )
        .on(
            r"start a sleeper",
            lambda r: Reply(tool_calls=[shell_call(r, "sleep 300 > /dev/null 2>&1 & echo $!")]),
        )
        .on(r"talk slowly", Reply(text="too late", delay=30))
        .on(r"fail please", Reply(error_status=400, error_message=API_ERROR))
    )


SESSIONS: dict[str, dict[str, Any]] = {
    "shared": {"mcp": True},
    "resume": {},
    "sleeper": {"mcp": True},
    "error": {},
    "killed": {},
    "read": {"permission": "read"},
    "write": {"permission": "write"},
    "bad-model": {"model": "fake/m9"},
}
"""The sessions the module's tests need, each in a home of its own, by name."""


@dataclass
class Session:
    """One opencode session of the module, run by a task of its own (see ``sessions``)."""

    driver: OpenCodeDriver
    recorder: Recorder
    project: Project
    started: SessionStarted | None = None
    failure: DriverError | None = None
    close_asked: anyio.Event = field(default_factory=anyio.Event)
    closed: anyio.Event = field(default_factory=anyio.Event)

    async def run(self, ready: anyio.Event) -> None:
        """Enter the driver, start it, and hold it until :meth:`close`."""
        try:
            async with self.driver:
                try:
                    self.started = await self.driver.start()
                except DriverError as exc:
                    self.failure = exc
                ready.set()
                await self.close_asked.wait()
        finally:
            ready.set()
            self.closed.set()

    async def close(self) -> None:
        """End the session now, as leaving its ``async with`` does."""
        self.close_asked.set()
        await self.closed.wait()


@dataclass
class Shared:
    driver: OpenCodeDriver
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
async def sessions(
    model: FakeModelServer, mcp: McpTestServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Session]]:
    """Every session of ``SESSIONS``, started at once: opencode takes seconds to start.

    Each is held by a task of its own, so that a test can end one (``Session.close``)
    while the driver's ``async with`` stays in the task that entered it.
    """
    tmp = tmp_path_factory.mktemp("opencode")
    sessions: dict[str, Session] = {}
    for name, spec in SESSIONS.items():
        config = {k: v for k, v in spec.items() if k != "mcp"}
        project = isolated_opencode(tmp / name, model.url)
        recorder = Recorder()
        servers = (mcp.mcp_server("test"),) if spec.get("mcp") else ()
        driver = open_driver(profile(project, **config), project, recorder, mcp_servers=servers)
        sessions[name] = Session(driver, recorder, project)
    async with anyio.create_task_group() as tg:
        readiness = []
        for session in sessions.values():
            ready = anyio.Event()
            readiness.append(ready)
            tg.start_soon(session.run, ready)
        with anyio.fail_after(120):
            for ready in readiness:
                await ready.wait()
        try:
            yield sessions
        finally:
            for session in sessions.values():
                session.close_asked.set()


@pytest.fixture
def shared(sessions: dict[str, Session], model: FakeModelServer, mcp: McpTestServer) -> Shared:
    session = sessions["shared"]
    assert session.started is not None, session.failure
    return Shared(session.driver, session.recorder, session.started, model, mcp)


def _session(sessions: dict[str, Session], name: str) -> Session:
    session = sessions[name]
    assert session.started is not None, session.failure
    return session


async def _turn(shared: Shared, text: str) -> tuple[TurnEnd, Recorder]:
    mark = shared.recorder.mark()
    with anyio.fail_after(60):
        end = await shared.driver.prompt(text)
    return end, Recorder(shared.recorder.events[mark:])


async def _request_arrived(model: FakeModelServer, count: int) -> None:
    await anyio.to_thread.run_sync(model.wait_for_requests, count, 30.0)


async def test_the_session_starts_on_the_profile_s_model(shared: Shared) -> None:
    assert shared.started == SessionStarted(
        shared.driver.harness_session_id or "", model=MODEL, resumed=False
    )
    assert shared.started.harness_session_id.startswith("ses_")
    assert shared.recorder.events[0] == shared.started
    option = shared.driver.state.config_option("model")
    assert option is not None and option["currentValue"] == MODEL
    assert shared.driver.command()[1:] == ["acp", "--cwd", str(shared.driver.cwd)]


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
    # opencode's usage {inputTokens, outputTokens, totalTokens}, as the fake model reported it.
    assert two.usage == second.of(Usage)[0] == Usage(input_tokens=1234, output_tokens=56)
    last = shared.model.requests[-1]
    assert last.prompts[-2:] == ("hello one", "counted hello two"), "one conversation"
    # The fake provider's default is m1: the profile's model was chosen over it.
    assert {r.model for r in shared.model.requests} == {MODEL.split("/")[1]}
    assert shared.driver.failed is None


async def test_a_shell_tool_call_round_trips(shared: Shared) -> None:
    end, events = await _turn(shared, "please run the echo")

    [call] = events.of(ToolCall)
    assert (call.name, call.kind) == ("bash", ToolKind.execute)
    assert call.input["command"] == "echo hi-from-opencode"
    [result] = events.of(ToolResult)
    assert result.id == call.id and result.ok
    assert "hi-from-opencode" in result.output
    order = [type(e) for e in events.events]
    assert order.index(ToolCall) < order.index(ToolResult) < order.index(TurnEnd)
    assert end.ok and end.text == "Running.\n\ntool said: hi-from-opencode\n"
    assert "hi-from-opencode" in shared.model.requests[-1].tool_results[0].output


async def test_an_mcp_tool_call_reaches_the_mcp_server(shared: Shared) -> None:
    calls_before = len(shared.mcp.calls)
    end, events = await _turn(shared, "record a note please")

    [call] = events.of(ToolCall)
    assert call.name == "test_record" and call.input == {"note": "from-opencode"}
    [result] = events.of(ToolResult)
    assert result.id == call.id and result.ok
    assert "recorded: from-opencode" in result.output
    assert end.ok
    recorded = shared.mcp.wait_for_calls(calls_before + 1)[calls_before]
    assert recorded.note == "from-opencode"
    assert recorded.headers["authorization"] == f"Bearer {TOKEN}"
    assert "test_record" in shared.model.requests[-2].tools


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
    assert "too late" not in str(events.events)
    assert shared.recorder.of(TurnEnd, mark) == [cancelled, after]
    # opencode keeps the cancelled prompt in its history, unanswered.
    assert model.requests[-1].prompts[-2:] == ("talk slowly", "hello after the interrupt")
    assert driver.failed is None


async def test_a_session_resumes_after_close_in_a_new_process(
    sessions: dict[str, Session], model: FakeModelServer
) -> None:
    first = _session(sessions, "resume")
    assert first.started is not None
    with anyio.fail_after(60):
        await first.driver.prompt("remember the word banana")
        await first.close()

        rec = Recorder()
        project = first.project
        async with open_driver(
            profile(project), project, rec, resume=first.started.harness_session_id
        ) as again:
            resumed = await again.start()
            assert rec.events == [resumed], "the replayed conversation is not new events"
            end = await again.prompt("which word was it?")

    assert resumed == SessionStarted(first.started.harness_session_id, MODEL, resumed=True)
    assert [(h.role, h.text) for h in again.history] == [
        ("user", "remember the word banana"),
        ("assistant", "echo: remember the word banana"),
    ]
    assert end.ok and end.text == "echo: which word was it?"
    assert model.requests[-1].prompts == ("remember the word banana", "which word was it?")
    assert model.requests[-1].model == MODEL.split("/")[1]
    # Nothing of the replay leaks into the first turn: it holds just its own reply.
    kinds = [type(e) for e in rec.events]
    assert kinds[0] is SessionStarted and set(kinds[1:-3]) == {TextDelta}
    assert kinds[-3:] == [AssistantMessage, Usage, TurnEnd]


async def test_nothing_is_left_running_after_the_session(sessions: dict[str, Session]) -> None:
    session = _session(sessions, "sleeper")
    driver = session.driver
    with anyio.fail_after(60):
        end = await driver.prompt("start a sleeper")
        assert driver.process is not None
        pgid = driver.process.pid
        members = group_members(pgid)
        await session.close()
    [result] = session.recorder.of(ToolResult)
    sleeper = int(result.output.strip())
    assert end.ok and pgid in members
    assert wait_gone([*members, sleeper], timeout=5) == []
    assert group_members(pgid) == []


async def test_a_model_api_error_fails_the_session_with_opencode_s_message(
    sessions: dict[str, Session],
) -> None:
    session = _session(sessions, "error")
    driver, rec = session.driver, session.recorder
    with anyio.fail_after(60):
        end = await driver.prompt("fail please")
        again = await driver.prompt("hello?")
    [error] = rec.of(Error)
    assert error.fatal and API_ERROR in error.message
    assert end.stop_reason is StopReason.error and end.error == error.message
    assert driver.failed == error.message
    assert end.duration_s < 10, "a 400 is not retried for long"
    assert again.stop_reason is StopReason.error, "a failed session takes no more turns"


async def test_a_killed_cli_fails_the_turn_at_once(
    sessions: dict[str, Session], model: FakeModelServer
) -> None:
    session = _session(sessions, "killed")
    driver, rec = session.driver, session.recorder
    ends: list[TurnEnd] = []
    with anyio.fail_after(60):
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


async def test_read_and_write_profiles_limit_what_opencode_may_run(
    sessions: dict[str, Session], model: FakeModelServer
) -> None:
    read, write = _session(sessions, "read"), _session(sessions, "write")
    with anyio.fail_after(60):
        read_end = await read.driver.prompt("read only: which tools?")
        write_end = await write.driver.prompt("please run the echo for write")

    # read: opencode does not even offer the model its shell or its editing tools.
    [offered] = [r.tools for r in model.requests if r.user_text == "read only: which tools?"]
    assert "read" in offered and not {"bash", "edit", "write"} & set(offered)
    assert read_end.ok
    # write: the shell asks, and aegis answers for the profile: no.
    [call] = write.recorder.of(ToolCall)
    [result] = write.recorder.of(ToolResult)
    assert (call.name, call.kind) == ("bash", ToolKind.execute) and result.id == call.id
    assert not result.ok and "permission 'write'" in result.output
    assert write_end.ok, "a refused tool is the agent's business, not a failed turn"


async def test_a_model_opencode_does_not_offer_fails_the_start_naming_those_it_does(
    sessions: dict[str, Session],
) -> None:
    session = sessions["bad-model"]
    assert session.started is None and session.failure is not None
    message = str(session.failure)
    assert "no model 'fake/m9'" in message
    assert re.search(r"fake/m1\b.*fake/m2\b", message)
