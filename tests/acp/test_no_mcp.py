"""An ACP agent that cannot take MCP servers over HTTP still runs sessions, with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from aegis.acp.driver import MCP_UNSUPPORTED
from aegis.driver import McpServer, SessionOptions
from aegis.events import Error, Event, SessionStarted, StopReason, TurnEnd
from tests.acp.fake_provider import fake_driver

pytestmark = pytest.mark.anyio

PLANE = McpServer("aegis", "http://127.0.0.1:9/mcp", {"Authorization": "Bearer secret"})


async def test_an_agent_without_http_mcp_runs_a_turn_without_the_servers_and_says_so(
    tmp_path: Path,
) -> None:
    log = tmp_path / "agent.log"
    events: list[Event] = []
    options = SessionOptions(
        cwd=tmp_path,
        emit=events.append,
        mcp_servers=(PLANE,),
        env={"FAKE_AGENT_LOG": str(log)},
    )
    with anyio.fail_after(15):
        async with fake_driver(options) as driver:
            started = await driver.start()
            end = await driver.prompt("hello")

    assert end.stop_reason is StopReason.end_turn and end.text == "ok: hello"
    assert driver.failed is None
    # Told once, right after the start, and not as a failure of the session.
    [warning] = [e for e in events if isinstance(e, Error)]
    assert events.index(warning) == events.index(started) + 1
    assert isinstance(events[0], SessionStarted)
    assert not warning.fatal and warning.code == MCP_UNSUPPORTED
    assert "does not offer MCP over HTTP" in warning.message and "aegis" in warning.message
    assert "does not offer MCP over HTTP" in driver.diagnostics.tail(20)
    assert isinstance(events[-1], TurnEnd)
    # The agent was not handed servers it said it cannot use (nor their token).
    [new_session] = [json.loads(line) for line in log.read_text().splitlines()]
    assert new_session["mcpServers"] == []


async def test_without_mcp_servers_to_give_there_is_nothing_to_warn_about(tmp_path: Path) -> None:
    events: list[Event] = []
    with anyio.fail_after(15):
        async with fake_driver(SessionOptions(cwd=tmp_path, emit=events.append)) as driver:
            await driver.start()
            await driver.prompt("hello")
    assert not [e for e in events if isinstance(e, Error)]
