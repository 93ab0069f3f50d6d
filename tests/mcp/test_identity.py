"""Identity belongs to the transport: bearer tokens, one per session, never written down."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx2
import pytest
from mcp import MCPError

from tests.mcp.support import as_agent, connect, error, ok, running, spawn, user_messages

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


async def post(url: str, body: object, **headers: str) -> httpx2.Response:
    async with httpx2.AsyncClient() as http:
        return await http.post(url, json=body, headers={**MCP_HEADERS, **headers})


async def test_a_request_without_a_token_or_with_a_wrong_one_is_refused_with_401(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime)
        url = lead.server.url
        missing = await post(url, INITIALIZE)
        wrong = await post(url, INITIALIZE, Authorization="Bearer not-a-token")
        not_bearer = await post(url, INITIALIZE, Authorization=f"Basic {lead.token}")
        right = await post(url, INITIALIZE, Authorization=f"Bearer {lead.token}")
        with pytest.raises(ExceptionGroup) as refused:
            async with connect(url, {"Authorization": "Bearer not-a-token"}) as client:
                await client.call_tool("aegis_meta", {})
    assert (missing.status_code, wrong.status_code, not_bearer.status_code) == (401, 401, 401)
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    assert right.status_code == 200
    # The SDK's client is refused too (it reports the HTTP error as an MCP error).
    assert refused.group_contains(MCPError)


async def test_each_token_acts_as_its_own_session_only(tmp_path: Path) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        assert lead.token != helper.token
        with runtime.sessions.subscribe() as events:
            async with as_agent(lead) as as_lead, as_agent(helper) as as_helper:
                lead_meta = ok(await as_lead.call_tool("aegis_meta", {}))
                helper_meta = ok(await as_helper.call_tool("aegis_meta", {}))
                ok(
                    await as_lead.call_tool(
                        "aegis_handoff", {"target": helper.handle, "message": "hi"}
                    )
                )
                ok(
                    await as_helper.call_tool(
                        "aegis_handoff", {"target": lead.handle, "message": "yo"}
                    )
                )
            await runtime.sessions.drain(lead.handle, timeout=5)
            await runtime.sessions.drain(helper.handle, timeout=5)
        received = {(h, e.sender) for h, e in user_messages(events)}
    assert (lead_meta["handle"], lead_meta["profile"]) == (lead.handle, "lead")
    assert (helper_meta["handle"], helper_meta["profile"]) == (helper.handle, "helper")
    assert received == {
        (helper.handle, f"agent:{lead.handle}"),
        (lead.handle, f"agent:{helper.handle}"),
    }


async def test_a_tool_argument_cannot_claim_another_identity(tmp_path: Path) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        async with as_agent(lead) as client:
            # Unknown arguments are ignored: the sender is the token's session, always.
            ok(
                await client.call_tool(
                    "aegis_handoff",
                    {"target": helper.handle, "message": "hi", "sender": f"agent:{helper.handle}"},
                )
            )
        await runtime.sessions.drain(helper.handle, timeout=5)
    assert helper.prompts_from(f"Message from agent {lead.handle} ") != []


async def test_an_mcp_session_opened_with_one_token_cannot_be_used_with_another(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        opened = await post(lead.server.url, INITIALIZE, Authorization=f"Bearer {lead.token}")
        session_id = opened.headers["mcp-session-id"]
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "aegis_meta", "arguments": {}},
        }
        hijack = await post(
            lead.server.url,
            call,
            Authorization=f"Bearer {helper.token}",
            **{"Mcp-Session-Id": session_id, "Mcp-Protocol-Version": "2025-06-18"},
        )
    assert opened.status_code == 200
    assert hijack.status_code == 404  # as if the session did not exist


async def test_a_token_is_revoked_when_its_session_closes(tmp_path: Path) -> None:
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        async with as_agent(lead) as client:
            ok(await client.call_tool("aegis_meta", {}))
        await runtime.sessions.close(lead.handle)
        # The plane's watch of the session manager revokes it as soon as the session is gone.
        for _ in range(100):
            after = await post(lead.server.url, INITIALIZE, Authorization=f"Bearer {lead.token}")
            if after.status_code == 401:
                break
        others = await post(helper.server.url, INITIALIZE, Authorization=f"Bearer {helper.token}")
    assert after.status_code == 401
    assert others.status_code == 200


async def test_a_resumed_session_gets_a_new_token_and_the_old_one_stops_working(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as runtime:
        first = await spawn(runtime, "lead")
        await runtime.sessions.close(first.handle)
        again = await spawn(runtime, "lead", handle=first.handle, resume="fake-1")
        old = await post(again.server.url, INITIALIZE, Authorization=f"Bearer {first.token}")
        async with as_agent(again) as client:
            meta = ok(await client.call_tool("aegis_meta", {}))
    assert again.token != first.token
    assert old.status_code == 401
    assert meta["handle"] == first.handle


async def test_tokens_appear_in_no_file_under_the_state_folder_and_in_no_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(tmp_path) as runtime:
        lead = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        tokens = [lead.token, helper.token]
        async with as_agent(lead) as client:
            ok(await client.call_tool("aegis_handoff", {"target": helper.handle, "message": "x"}))
            error(await client.call_tool("aegis_handoff", {"target": "nobody", "message": "x"}))
            error(await client.call_tool("aegis_enqueue", {"queue": "none", "payload": "x"}))
        await post(lead.server.url, INITIALIZE, Authorization="Bearer wrong")
        await runtime.sessions.drain(helper.handle, timeout=5)
        # What a log line or an error message showing the session's MCP server would say.
        shown = f"{lead.server!r} {lead.server} {lead.driver.options!r}"
    files = [path for path in (tmp_path / ".aegis").rglob("*") if path.is_file()]
    assert len([path for path in files if path.name == "transcript.jsonl"]) == 2
    helper_transcript = tmp_path / ".aegis" / "sessions" / helper.handle / "transcript.jsonl"
    assert "sent with aegis_handoff" in helper_transcript.read_text()
    for path in files:
        content = path.read_bytes()
        for token in tokens:
            assert token.encode() not in content, f"a token was written to {path}"
    assert "MCP plane listening" in caplog.text  # the log was captured at all
    assert f"{lead.handle} calls aegis_handoff" in caplog.text
    for token in tokens:
        assert token not in caplog.text
        assert token not in shown
    assert "<redacted>" in shown
