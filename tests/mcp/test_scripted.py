"""A real agent process (the offline scripted agent, over ACP) calls the plane with its own token.

The scripted agent's ``mcp:aegis/<tool>`` tool calls go through the MCP server the
session was given in ACP ``session/new`` (URL and bearer token), with the MCP SDK's
client, the way a harness CLI calls it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.queue import Queue
from aegis.runtime import Runtime
from tests.mcp.support import handoff_line
from tests.queue.fakes import POLL
from tests.session.fake_provider import Fake, FakeDriver
from tests.support import transcripts
from tests.support.waiting import until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]


def mcp_rule(match: str, tool: str, arguments: dict[str, object]) -> ScriptRule:
    return ScriptRule(
        match=match,
        tool_calls=(ScriptedToolCall(tool=f"mcp:aegis/{tool}", input=arguments),),
        reply="the tool said: {output}",
    )


CALLER = Scripted(
    rules=(
        mcp_rule("who am I", "aegis_meta", {}),
        mcp_rule("pass it on", "aegis_handoff", {"target": "peer", "message": "from a process"}),
        mcp_rule("delegate", "aegis_enqueue", {"queue": "work", "payload": "scripted work"}),
        mcp_rule("myself", "aegis_handoff", {"target": "caller", "message": "hello me"}),
    )
)


async def test_a_scripted_agent_calls_the_plane_as_itself(tmp_path: Path) -> None:
    (tmp_path / ".aegis.py").write_text("# built in the test\n")
    project = Project(
        path=tmp_path / ".aegis.py",
        agents={
            "caller": Agent(provider=CALLER),
            "peer": Agent(provider=Fake()),
            "worker": Agent(provider=Fake()),
        },
        default_agent="caller",
        queues={"work": Queue("work", "worker", 1)},
    )
    runtime = Runtime(project)
    runtime.inbox.poll_interval = runtime.queues.poll_interval = POLL
    async with runtime:
        sessions = runtime.sessions
        await sessions.spawn("peer", "peer")
        peer = FakeDriver.instances[-1]
        caller = await sessions.spawn("caller", "caller")
        meta = await sessions.request(caller, "who am I?")
        handed = await sessions.request(caller, "please pass it on")
        refused = await sessions.request(caller, "message myself")
        delegated = await sessions.request(caller, "delegate this")
        await until(lambda: peer.prompts != [], timeout=10)

        # The task's callback reaches the scripted agent's inbox: it echoes it.
        async def called_back() -> bool:
            return "on queue 'work': ok." in await transcripts.text(sessions, caller)

        await until(called_back, timeout=10)
        await sessions.drain(caller, timeout=10)
    assert meta.ok and '"handle": "caller"' in (meta.text or "")
    assert '"profile": "caller"' in (meta.text or "")
    assert handed.ok and '"status": "delivered"' in (handed.text or "")
    assert peer.prompts == [f"{handoff_line('caller', 'caller')}\n\nfrom a process"]
    assert "you are caller: a handoff goes to another session" in (refused.text or "")
    assert '"queue": "work"' in (delegated.text or "")
    transcript = [
        json.loads(line) for line in sessions.transcript_path(caller).read_text().splitlines()
    ]
    senders = [e["sender"] for e in transcript if e["type"] == "user_message"]
    assert senders == ["user", "user", "user", "user", "queue:work"]
