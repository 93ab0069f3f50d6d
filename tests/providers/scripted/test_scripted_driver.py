"""The scripted provider's own behaviour: the real agent process, driven by the ACP driver.

What every provider does (turns, tools, MCP, interrupts, resume, failures) is the
conformance suite's, in test_conformance.py; here is what only the scripted agent has:
permissions it enforces itself, files through the client, placeholders, its history.
"""

from __future__ import annotations

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
    SessionStarted,
    ToolCall,
    ToolKind,
    ToolResult,
    TurnEnd,
)
from aegis.registry import get_registry
from aegis.testing import Recorder
from aegis.testing.mcp_server import McpTestServer

pytestmark = pytest.mark.anyio

E = TypeVar("E")


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
