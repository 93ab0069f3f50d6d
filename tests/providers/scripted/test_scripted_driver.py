"""The scripted provider end to end: the real agent process, driven by the ACP driver."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from aegis.acp.driver import AcpDriver
from aegis.builtins.scripted import (
    CONFIG_ENV,
    CONFIG_FILE_ENV,
    Scripted,
    ScriptedDriver,
    ScriptedToolCall,
    ScriptRule,
)
from aegis.config import Agent
from aegis.driver import Driver, McpServer, SessionOptions
from aegis.events import (
    AssistantMessage,
    Error,
    Event,
    SessionStarted,
    StopReason,
    TextDelta,
    ToolCall,
    ToolKind,
    ToolResult,
    TurnEnd,
    Usage,
)
from aegis.registry import get_registry
from aegis.testing.mcp_server import McpTestServer

pytestmark = pytest.mark.anyio

E = TypeVar("E")


class Recorder:
    """Collects a session's events; :meth:`seen` waits for one of a kind without polling."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._waiting: dict[type[Any], anyio.Event] = {}

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        waiter = self._waiting.pop(type(event), None)
        if waiter is not None:
            waiter.set()

    async def seen(self, kind: type[Any]) -> None:
        if not any(isinstance(e, kind) for e in self.events):
            await self._waiting.setdefault(kind, anyio.Event()).wait()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


def agent(*rules: ScriptRule, permission: str = "auto") -> Agent:
    return Agent(provider=Scripted(rules=rules, permission=permission))


def open_driver(profile: Agent, cwd: Path, recorder: Recorder, **options: Any) -> Driver:
    provider = get_registry().get("scripted").provider
    return provider.open_driver(profile, SessionOptions(cwd=cwd, emit=recorder, **options))


def bash(command: str) -> ScriptedToolCall:
    return ScriptedToolCall(tool="bash", input={"command": command})


@pytest.fixture
def mcp() -> Iterator[McpTestServer]:
    with McpTestServer(token="s3cret") as server:
        yield server


async def test_two_turns_on_one_session_stream_text_and_report_usage(tmp_path: Path) -> None:
    rec = Recorder()
    profile = agent(ScriptRule(match=r"(?i)hello (\w+)", reply="Hi {1}, this is turn {turn}."))
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec) as driver:
            assert isinstance(driver, ScriptedDriver) and isinstance(driver, AcpDriver)
            started = await driver.start()
            first = await driver.prompt("hello Ada")
            second = await driver.prompt("what is up")
    assert started.model == "scripted" and not started.resumed
    assert started.harness_session_id.startswith("scripted-")
    assert driver.harness_session_id == started.harness_session_id
    assert first.text == "Hi Ada, this is turn 1." and first.ok
    assert second.text == "echo: what is up"
    assert second.usage == Usage(input_tokens=3, output_tokens=4)
    turn_two = rec.events[rec.events.index(first) + 1 :]
    deltas = [e.text for e in turn_two if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == "echo: what is up", "the reply streams"
    assert [type(e) for e in turn_two][-3:] == [AssistantMessage, Usage, TurnEnd]


async def test_a_shell_tool_call_round_trips_as_tool_call_and_tool_result(tmp_path: Path) -> None:
    rec = Recorder()
    profile = agent(
        ScriptRule(
            match="build",
            tool_calls=(bash("echo built > out.txt && cat out.txt && pwd"),),
            reply="The build said: {output}",
        ),
        permission="full",
    )
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec) as driver:
            await driver.start()
            end = await driver.prompt("please build")
    (call,) = rec.of(ToolCall)
    (result,) = rec.of(ToolResult)
    assert call.kind is ToolKind.execute and call.name == "bash"
    assert call.input == {"command": "echo built > out.txt && cat out.txt && pwd"}
    assert result.id == call.id and result.ok
    assert result.output == f"built\n{tmp_path}\n"
    assert (tmp_path / "out.txt").read_text() == "built\n"
    assert end.text == f"The build said: built\n{tmp_path}"  # {output} is stripped
    assert rec.events.index(call) < rec.events.index(result) < rec.events.index(end)


async def test_a_read_only_profile_refuses_commands_and_edits(tmp_path: Path) -> None:
    rec = Recorder()
    profile = agent(
        ScriptRule(
            match="go",
            tool_calls=(
                bash("touch ran.txt"),
                ScriptedToolCall(tool="write_file", input={"path": "w.txt", "content": "x"}),
                ScriptedToolCall(tool="read_file", input={"path": "r.txt"}),
            ),
            reply="done",
        ),
        permission="read",
    )
    (tmp_path / "r.txt").write_text("readable")
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec) as driver:
            await driver.start()
            end = await driver.prompt("go")
    results = rec.of(ToolResult)
    assert [r.ok for r in results] == [False, False, True]
    assert "permission 'read'" in results[0].output
    assert results[2].output == "readable"
    assert not (tmp_path / "ran.txt").exists() and not (tmp_path / "w.txt").exists()
    assert end.ok


async def test_files_go_through_the_client_and_stay_inside_the_working_directory(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret.txt").write_text("top secret")
    rec = Recorder()
    profile = agent(
        ScriptRule(
            match="files",
            tool_calls=(
                ScriptedToolCall(tool="write_file", input={"path": "sub/a.txt", "content": "A"}),
                ScriptedToolCall(tool="read_file", input={"path": "sub/a.txt"}),
                ScriptedToolCall(tool="read_file", input={"path": "../secret.txt"}),
            ),
        ),
        permission="write",
    )
    with anyio.fail_after(20):
        async with open_driver(profile, work, rec) as driver:
            await driver.start()
            await driver.prompt("files")
    write, read, escape = rec.of(ToolResult)
    kinds = [c.kind for c in rec.of(ToolCall)]
    assert kinds == [ToolKind.edit, ToolKind.read, ToolKind.read]
    assert write.ok and (work / "sub" / "a.txt").read_text() == "A"
    assert read.ok and read.output == "A"
    assert not escape.ok and "outside" in escape.output and "top secret" not in escape.output


async def test_an_mcp_tool_call_reaches_the_mcp_server(tmp_path: Path, mcp: McpTestServer) -> None:
    rec = Recorder()
    profile = agent(
        ScriptRule(
            match=r"note (.+)",
            tool_calls=(ScriptedToolCall(tool="mcp:test/record", input={"note": "from scripted"}),),
            reply="{output}",
        )
    )
    with anyio.fail_after(20):
        async with open_driver(
            profile, tmp_path, rec, mcp_servers=(mcp.mcp_server("test"),)
        ) as driver:
            await driver.start()
            end = await driver.prompt("note this")
    (call,) = rec.of(ToolCall)
    (result,) = rec.of(ToolResult)
    assert call.name == "mcp:test/record" and call.input == {"note": "from scripted"}
    assert result.ok and result.output == "recorded: from scripted"
    assert end.text == "recorded: from scripted"
    assert mcp.notes == ["from scripted"]
    assert mcp.calls[0].headers["authorization"] == "Bearer s3cret"


async def test_an_mcp_call_with_a_wrong_token_fails_as_a_tool_error(
    tmp_path: Path, mcp: McpTestServer
) -> None:
    rec = Recorder()
    profile = agent(
        ScriptRule(
            match="x", tool_calls=(ScriptedToolCall(tool="mcp:test/record", input={"note": "n"}),)
        )
    )
    wrong = McpServer("test", mcp.url, {"Authorization": "Bearer wrong"})
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec, mcp_servers=(wrong,)) as driver:
            await driver.start()
            end = await driver.prompt("x")
    (result,) = rec.of(ToolResult)
    assert not result.ok and "MCP call test/record failed" in result.output
    assert mcp.notes == [] and mcp.refused >= 1
    assert end.ok, "a failed tool is the agent's business, not a failed turn"


async def test_interrupting_a_slow_turn_cancels_it_and_the_next_turn_is_clean(
    tmp_path: Path,
) -> None:
    rec = Recorder()
    profile = agent(ScriptRule(match="slow", tool_calls=(bash("true"),), delay=60, reply="late"))
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec) as driver:
            await driver.start()
            ends: list[TurnEnd] = []
            async with anyio.create_task_group() as tg:

                async def turn() -> None:
                    ends.append(await driver.prompt("slow"))

                tg.start_soon(turn)
                await rec.seen(ToolResult)  # the agent is in its delay now
                interrupted_at = anyio.current_time()
                await driver.interrupt()
            took = anyio.current_time() - interrupted_at
            mark = len(rec.events)
            after = await driver.prompt("quick")
    assert ends[0].stop_reason is StopReason.cancelled and ends[0].text == ""
    assert took < 2
    assert after.text == "echo: quick" and after.ok
    assert "late" not in [e.text for e in rec.events[mark:] if isinstance(e, TextDelta)]
    assert driver.failed is None


async def test_a_turn_whose_caller_gives_up_is_cancelled_in_the_agent_too(
    tmp_path: Path,
) -> None:
    rec = Recorder()
    profile = agent(ScriptRule(match="slow", tool_calls=(bash("true"),), delay=60, reply="late"))
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec) as driver:
            await driver.start()
            async with anyio.create_task_group() as tg:
                tg.start_soon(driver.prompt, "slow")
                await rec.seen(ToolResult)
                tg.cancel_scope.cancel()
            # The agent runs one prompt at a time: this works only if the slow one stopped.
            after = await driver.prompt("quick")
    assert after.text == "echo: quick" and after.ok
    assert [e.text for e in rec.of(TurnEnd)] == ["echo: quick"]


async def test_a_session_resumes_after_close_with_its_history(tmp_path: Path) -> None:
    profile = agent(
        ScriptRule(match="count", reply="this is turn {turn}"),
        ScriptRule(match="run", tool_calls=(bash("echo hi"),), reply="ran"),
    )
    with anyio.fail_after(30):
        first_rec = Recorder()
        async with open_driver(profile, tmp_path, first_rec) as first:
            started = await first.start()
            await first.prompt("hello")
            await first.prompt("run it")
        rec = Recorder()
        async with open_driver(profile, tmp_path, rec, resume=started.harness_session_id) as again:
            resumed = await again.start()
            assert rec.events == [resumed], "the replayed history is not new events"
            end = await again.prompt("count")
    assert isinstance(again, AcpDriver)
    assert resumed == SessionStarted(started.harness_session_id, model="scripted", resumed=True)
    assert [(h.role, h.text) for h in again.history] == [
        ("user", "hello"),
        ("assistant", "echo: hello"),
        ("user", "run it"),
        ("tool", "echo hi"),
        ("assistant", "ran"),
    ]
    assert end.text == "this is turn 3", "the agent itself knows the earlier turns"


async def test_resuming_an_unknown_session_fails_to_start(tmp_path: Path) -> None:
    from aegis.errors import DriverError

    with anyio.fail_after(20):
        async with open_driver(agent(), tmp_path, Recorder(), resume="scripted-nope") as driver:
            with pytest.raises(DriverError, match=r"session/load.*Resource not found"):
                await driver.start()


async def test_a_killed_agent_fails_the_turn_at_once(tmp_path: Path) -> None:
    rec = Recorder()
    profile = agent(ScriptRule(match="slow", tool_calls=(bash("true"),), delay=60))
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec) as driver:
            assert isinstance(driver, AcpDriver)
            await driver.start()
            ends: list[TurnEnd] = []
            async with anyio.create_task_group() as tg:

                async def turn() -> None:
                    ends.append(await driver.prompt("slow"))

                tg.start_soon(turn)
                await rec.seen(ToolResult)
                assert driver.process is not None
                killed_at = anyio.current_time()
                os.killpg(driver.process.pid, signal.SIGKILL)
            took = anyio.current_time() - killed_at
    (error,) = rec.of(Error)
    assert error.fatal and "killed by signal 9" in error.message
    assert ends[0].stop_reason is StopReason.error and ends[0].error == error.message
    assert driver.failed == error.message
    assert took < 2
    assert rec.events[-1] is ends[0] and rec.events[-2] is error


async def test_no_process_is_left_after_the_session(tmp_path: Path) -> None:
    rec = Recorder()
    profile = agent(
        ScriptRule(match="spawn", tool_calls=(bash("sleep 300 >/dev/null 2>&1 & echo $!"),))
    )
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec) as driver:
            assert isinstance(driver, AcpDriver)
            await driver.start()
            await driver.prompt("spawn")
            assert driver.process is not None
            agent_pid = driver.process.pid
            sleeper = int(rec.of(ToolResult)[0].output)
            os.kill(sleeper, 0)  # alive while the session is
    # A killed process disappears asynchronously (and may linger as a zombie): allow a moment.
    with anyio.fail_after(5):
        while alive(agent_pid) or alive(sleeper):
            await anyio.sleep(0.02)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_large_script_reaches_the_agent_through_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ScriptedDriver, "env_limit", 100)
    long_reply = "word " * 50
    rec = Recorder()
    profile = agent(ScriptRule(match="long", reply=long_reply))
    with anyio.fail_after(20):
        async with open_driver(profile, tmp_path, rec) as driver:
            assert isinstance(driver, ScriptedDriver)
            await driver.start()
            # Read from an inherited pipe: nothing on disk to leave behind.
            assert driver.environment()[CONFIG_FILE_ENV].startswith("/dev/fd/")
            assert CONFIG_ENV not in driver.environment()
            end = await driver.prompt("long")
    assert end.text == long_reply
