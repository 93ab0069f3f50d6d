"""One token cannot hold more than MAX_SESSIONS_PER_TOKEN MCP sessions open."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from aegis.mcp.session_cap import MAX_SESSIONS_PER_TOKEN
from tests.mcp.support import Spawned, as_agent, ok, running, spawn

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-03-26",
        "capabilities": {},
        "clientInfo": {"name": "leaky", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


async def open_session(http: httpx2.AsyncClient, agent: Spawned) -> str:
    """Open an MCP session and never end it, as a leaky client would."""
    response = await http.post(
        agent.server.url, json=INITIALIZE, headers={**agent.server.headers, **ACCEPT}
    )
    assert response.status_code == 200, response.text
    session_id: str = response.headers["mcp-session-id"]
    return session_id


async def is_open(http: httpx2.AsyncClient, agent: Spawned, session_id: str) -> bool:
    response = await http.post(
        agent.server.url,
        json=INITIALIZED,
        headers={**agent.server.headers, **ACCEPT, "mcp-session-id": session_id},
    )
    assert response.status_code in (202, 404), response.text
    return response.status_code == 202


async def test_opening_sessions_past_the_cap_ends_the_oldest_of_that_token_only(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        leaky = await spawn(runtime, "lead")
        other = await spawn(runtime, "helper")
        async with httpx2.AsyncClient() as http:
            others = [await open_session(http, other) for _ in range(2)]
            opened = [await open_session(http, leaky) for _ in range(MAX_SESSIONS_PER_TOKEN + 5)]
            still_open = [await is_open(http, leaky, sid) for sid in opened]
            others_open = [await is_open(http, other, sid) for sid in others]
        # The agent's own client still connects and works.
        async with as_agent(leaky) as client:
            meta = ok(await client.call_tool("aegis_meta", {}))
    assert still_open == [False] * 5 + [True] * MAX_SESSIONS_PER_TOKEN
    assert others_open == [True, True]
    assert meta["handle"] == leaky.handle
