"""ClaudeDriver on the real claude CLI (pinned 2.1.331): what the conformance suite
(test_conformance.py) does not cover — the preamble as claude's system prompt, the cost
it reports, aegis's MCP tools offered without ToolSearch, and permission prompts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from aegis.config.enums import Effort, Permission
from aegis.events import ToolResult, TurnEnd, Usage
from aegis.testing import Recorder
from aegis.testing.fakemodel import (
    FakeModelServer,
    ModelRequest,
    Reply,
    Script,
    mcp_call,
    shell_call,
)
from aegis.testing.mcp_server import McpTestServer
from aegis_claude.config import ClaudeCode
from aegis_claude.driver import ClaudeDriver
from tests.providers.claude.helpers import open_driver
from tests.support.clis import claude_env, cli_path

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-4-5"
PREAMBLE = "You are the aegis test agent, number 7."


def _record(request: ModelRequest) -> Reply:
    return Reply(tool_calls=[mcp_call(request, "aegis", "record", {"note": "from-claude"})])


def _touch(request: ModelRequest) -> Reply:
    return Reply(tool_calls=[shell_call(request, "touch made-by-claude.txt")])


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModelServer]:
    script = Script().on(r"record a note", _record).on(r"touch a file", _touch)
    with FakeModelServer(script) as server:
        yield server


@pytest.fixture(scope="module")
def mcp() -> Iterator[McpTestServer]:
    with McpTestServer() as server:
        yield server


@pytest.fixture(scope="module")
async def session(
    model: FakeModelServer, mcp: McpTestServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[ClaudeDriver, Recorder]]:
    """A claude session with a preamble and the MCP server as ``aegis``."""
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
            await driver.start()
        yield driver, recorder


async def test_the_preamble_is_claude_s_system_prompt_and_usage_has_a_cost(
    session: tuple[ClaudeDriver, Recorder], model: FakeModelServer
) -> None:
    driver, recorder = session
    mark = recorder.mark()
    with anyio.fail_after(60):
        end = await driver.prompt("hello")
    [usage] = recorder.of(Usage, mark)
    assert end.ok and usage.cost_usd
    assert PREAMBLE in model.requests[-1].system
    assert model.requests[-1].model == MODEL


async def test_aegis_s_mcp_tools_are_offered_without_tool_search(
    session: tuple[ClaudeDriver, Recorder], model: FakeModelServer, mcp: McpTestServer
) -> None:
    driver, _ = session
    with anyio.fail_after(60):
        end = await driver.prompt("record a note please")
    assert end.ok and mcp.notes == ["from-claude"]
    # Offered directly (ENABLE_TOOL_SEARCH=false), not deferred behind ToolSearch.
    assert "mcp__aegis__record" in model.requests[-2].tools
    assert "mcp__aegis__record" in driver.tools


async def test_permission_prompts_are_answered_from_the_profile(
    model: FakeModelServer, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    recorder = Recorder()
    config = ClaudeCode(executable=str(cli_path("claude")), permission=Permission.auto)
    env = claude_env(tmp_path, model.url).env
    with anyio.fail_after(60):
        async with open_driver(config, project, recorder, env=env) as driver:
            await driver.start()
            end = await driver.prompt("touch a file")

    [result] = recorder.of(ToolResult)
    assert not result.ok and "aegis refused this execute tool" in result.output
    assert not (project / "made-by-claude.txt").exists()
    assert end.ok
    assert recorder.of(TurnEnd) == [end]
