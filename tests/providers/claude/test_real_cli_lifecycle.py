"""Sessions of the real claude CLI that end: resumed, failed, killed, closed.

Each test needs a session of its own (it closes or breaks it), against one fake model.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.config.enums import Permission
from aegis.events import Error, SessionStarted, StopReason, ToolResult, TurnEnd
from aegis_claude.config import ClaudeCode
from aegis_claude.driver import ClaudeDriver
from tests.providers.claude.helpers import Recorder, group_alive, open_driver, process_gone, settled
from tests.support.clis import claude_env, cli_path
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, shell_call

pytestmark = pytest.mark.anyio


def _script() -> Script:
    return (
        Script()
        .on(r"answer slowly", Reply(text="eventually", delay=30))
        .on(r"bad request", Reply(error_status=400, error_message="scripted bad request"))
        .on(r"leave a sleeper", _leave_sleeper)
        .on(r"touch a file", _touch)
    )


def _leave_sleeper(request: ModelRequest) -> Reply:
    # A subshell's background job: claude's Bash tool puts the command in a session of
    # its own, so this sleep leaves claude's process group.
    return Reply(tool_calls=[shell_call(request, "(sleep 300 & echo $! > sleeper.pid)")])


def _touch(request: ModelRequest) -> Reply:
    return Reply(tool_calls=[shell_call(request, "touch made-by-claude.txt")])


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(_script()) as server:
        yield server


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def _driver(
    model: FakeModelServer,
    project: Path,
    recorder: Recorder,
    permission: Permission = Permission.full,
    resume: str | None = None,
) -> ClaudeDriver:
    config = ClaudeCode(executable=str(cli_path("claude")), permission=permission)
    env = claude_env(project.parent, model.url).env
    return open_driver(config, project, recorder, env=env, resume=resume)


async def test_resume_after_close_continues_the_conversation(
    model: FakeModelServer, project: Path, recorder: Recorder
) -> None:
    async with _driver(model, project, recorder) as first:
        started = await first.start()
        await first.prompt("remember the word banana")
    again = Recorder()
    async with _driver(model, project, again, resume=started.harness_session_id) as second:
        resumed = await second.start()
        end = await second.prompt("which word was it")

    assert resumed == SessionStarted(started.harness_session_id, model=started.model, resumed=True)
    assert end.stop_reason is StopReason.end_turn
    assert model.requests[-1].prompts[-2:] == ("remember the word banana", "which word was it")


async def test_model_api_400_fails_the_session_with_claudes_message(
    model: FakeModelServer, project: Path, recorder: Recorder
) -> None:
    async with _driver(model, project, recorder) as driver:
        await driver.start()
        with anyio.fail_after(30):
            end = await driver.prompt("a bad request")

    [error] = recorder.of(Error)
    assert error.fatal and error.message == "API Error: 400 scripted bad request"
    assert driver.failed == error.message
    assert end.stop_reason is StopReason.error and end.error == error.message
    assert recorder.events[-1] == end


async def test_killed_cli_ends_the_turn_at_once(
    model: FakeModelServer, project: Path, recorder: Recorder
) -> None:
    asked = len(model.requests)
    async with _driver(model, project, recorder) as driver:
        await driver.start()
        assert driver.process is not None
        group = driver.process.pid
        killed_at = 0.0

        async def kill_once_the_model_is_asked() -> None:
            nonlocal killed_at
            await anyio.to_thread.run_sync(model.wait_for_requests, asked + 1)
            killed_at = time.monotonic()
            os.killpg(group, signal.SIGKILL)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(kill_once_the_model_is_asked)
            with anyio.fail_after(20):
                end = await driver.prompt("answer slowly")
        reported_after = time.monotonic() - killed_at

    [error] = recorder.of(Error)
    assert error.fatal and "killed by signal 9 (SIGKILL)" in error.message
    assert end.stop_reason is StopReason.error and end.error == error.message
    assert driver.failed == error.message
    assert reported_after < 3  # not the model's 30 s, nor a timeout
    assert settled(lambda: group_alive(group) == [])


async def test_closing_leaves_no_process_behind(
    model: FakeModelServer, project: Path, recorder: Recorder
) -> None:
    async with _driver(model, project, recorder) as driver:
        await driver.start()
        assert driver.process is not None
        group = driver.process.pid
        end = await driver.prompt("leave a sleeper")
        sleeper = int((project / "sleeper.pid").read_text())
        assert not process_gone(sleeper)

    assert end.stop_reason is StopReason.end_turn
    assert settled(lambda: group_alive(group) == [])
    assert settled(lambda: process_gone(sleeper))


async def test_permission_prompts_are_answered_from_the_profile(
    model: FakeModelServer, project: Path, recorder: Recorder
) -> None:
    async with _driver(model, project, recorder, permission=Permission.auto) as driver:
        await driver.start()
        end = await driver.prompt("touch a file")

    [result] = recorder.of(ToolResult)
    assert not result.ok and "aegis refused this execute tool" in result.output
    assert not (project / "made-by-claude.txt").exists()
    assert end.stop_reason is StopReason.end_turn
    assert recorder.of(TurnEnd) == [end]
