"""An agent on the real ``claude`` CLI (fake model) orchestrates helpers through the MCP plane.

Its model lists the profiles, spawns two helpers (claude sessions too), asks both
one question with ``aegis_group`` and gets their answers in order, closes them, then
tries to close a session it did not spawn and is refused. Each step is a real MCP
call from claude's own MCP client, with the session's own token.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.config import Agent
from aegis.config.loader import Project
from aegis.runtime import Runtime
from aegis.session import SessionState
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, mcp_call
from aegis_claude.config import ClaudeCode
from tests.support import transcripts
from tests.support.clis import claude_env

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Lead:
    """The lead's model: each tool result chooses the next call."""

    def __init__(self, outsider: str) -> None:
        self.outsider = outsider
        self.helpers: list[str] = []
        self.outputs: dict[str, list[str]] = {}

    def call(self, request: ModelRequest, tool: str, **arguments: object) -> Reply:
        return Reply(tool_calls=[mcp_call(request, "aegis", tool, arguments)])

    def start(self, request: ModelRequest) -> Reply:
        return self.call(request, "aegis_list_profiles")

    def next(self, request: ModelRequest) -> Reply:
        [result] = request.tool_results
        tool = (result.name or "").rsplit("__", 1)[-1]
        self.outputs.setdefault(tool, []).append(result.output)
        if tool == "aegis_spawn":
            self.helpers.append(json.loads(result.output)["handle"])
        if tool in ("aegis_list_profiles", "aegis_spawn") and len(self.helpers) < 2:
            return self.call(request, "aegis_spawn", profile="helper")
        if tool == "aegis_spawn":
            return self.call(request, "aegis_group", targets=self.helpers, message="what is 2+2?")
        closes = len(self.outputs.get("aegis_close", []))
        if closes < len(self.helpers):
            return self.call(request, "aegis_close", target=self.helpers[closes])
        if closes == len(self.helpers):
            return self.call(request, "aegis_close", target=self.outsider)
        return Reply(text="orchestration done")


async def test_claude_lists_spawns_asks_a_group_and_closes_its_helpers(tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    with FakeModelServer() as model:
        claude = claude_env(tmp_path / "claude", model.url)
        provider = ClaudeCode(executable=str(claude.executable), env=claude.env)
        agents = {
            "lead": Agent(provider=provider, description="Plans and delegates."),
            "helper": Agent(provider=provider, description="Answers arithmetic."),
        }
        project = Project(project_dir / ".aegis.py", agents, "lead")
        async with Runtime(project) as runtime:
            sessions = runtime.sessions
            # A session the lead did not spawn; it starts while the lead does.
            outsider = await sessions.spawn("helper", wait=False)
            lead_model = Lead(outsider)
            model.script = (
                Script()
                .on(r"orchestrate now", lead_model.start)
                .on(r"what is 2\+2\?", Reply(text="four"))
                .on(lambda r: r.has_tool_results, lead_model.next)
            )
            lead = await sessions.spawn("lead")
            await sessions.wait_ready(outsider)
            end = await sessions.request(lead, "orchestrate now")
            helpers = lead_model.helpers
            states = {h: sessions.get(h).state for h in [*helpers, outsider]}
            received = [
                r
                for r in await transcripts.records(sessions, helpers[0])
                if r["type"] == "user_message"
            ]
    assert end.ok, end.error
    assert end.text == "orchestration done"
    outputs = lead_model.outputs
    [profiles] = outputs["aegis_list_profiles"]
    assert {"name": "helper", "description": "Answers arithmetic."}.items() <= next(
        p for p in json.loads(profiles)["profiles"] if p["name"] == "helper"
    ).items()
    [group] = outputs["aegis_group"]
    replies = json.loads(group)["replies"]
    assert [(r["target"], r["status"], r["text"]) for r in replies] == [
        (helpers[0], "ok", "four"),
        (helpers[1], "ok", "four"),
    ]
    assert [received[0]["sender"]] == [f"agent:{lead}"]
    assert received[0]["text"].endswith("what is 2+2?")
    closed, also_closed, refused = outputs["aegis_close"]
    assert json.loads(closed)["detail"] == f"{helpers[0]} closed"
    assert json.loads(also_closed)["detail"] == f"{helpers[1]} closed"
    assert f"you did not spawn {outsider}" in refused
    assert states == {
        helpers[0]: SessionState.closed,
        helpers[1]: SessionState.closed,
        outsider: SessionState.ready,
    }
