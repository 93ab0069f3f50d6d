"""The MCP plane with the real CLIs (fake model): each calls aegis's tools by its own name.

* claude runs as an aegis session (the Claude driver): the plane reaches it through
  ``--mcp-config`` with the session's token, its preamble through the system
  prompt, and its handoff lands in a peer's inbox tagged ``agent:<claude's handle>``.
* gemini and opencode speak ACP: here their raw clients (tests/support/rawclients)
  open a session with the plane in ``session/new`` ``mcpServers`` (the shape
  aegis's ACP driver sends, from :func:`aegis.acp.acp_mcp_servers`), holding the
  token of a stand-in aegis session, so the plane and each CLI's MCP client meet
  for real whatever the state of their aegis drivers.

Each test checks the name under which the CLI offered the tool to its model:
``mcp__aegis__aegis_handoff`` (claude), ``mcp_aegis_aegis_handoff`` (gemini),
``aegis_aegis_handoff`` (opencode).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from aegis.acp import acp_mcp_servers
from aegis.config import Agent
from aegis.config.enums import Permission
from aegis.config.loader import Project
from aegis.runtime import Runtime
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, mcp_call
from aegis_claude.config import ClaudeCode
from tests.mcp.support import handoff_line, running, spawn
from tests.queue.fakes import POLL, fake_workers
from tests.session.fake_provider import Fake, FakeDriver
from tests.support import transcripts
from tests.support.clis import GEMINI_MODEL, CliName, cli_env, cli_path
from tests.support.rawclients import gemini_acp, opencode_acp
from tests.support.waiting import until

__all__ = ["fake_workers"]

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

TOOL_NAMES = {
    "claude": "mcp__aegis__aegis_handoff",
    "gemini": "mcp_aegis_aegis_handoff",
    "opencode": "aegis_aegis_handoff",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def hand_over(target: str, message: str) -> Script:
    """A model that, asked to hand it over, calls aegis_handoff, then reports the tool's answer."""

    def call(request: ModelRequest) -> Reply:
        return Reply(
            tool_calls=[
                mcp_call(request, "aegis", "aegis_handoff", {"target": target, "message": message})
            ]
        )

    return Script().on(r"hand it over", call)


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


async def test_claude_hands_off_to_a_peer_through_the_plane(
    tmp_path: Path, model: FakeModelServer
) -> None:
    model.script = hand_over("peer", "from claude")
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / ".aegis.py").write_text("# built in the test\n")
    lead = ClaudeCode(
        executable=str(cli_path("claude")),
        permission=Permission.full,
        model="claude-sonnet-4-5",
        strict_mcp_config=True,
    )
    project = Project(
        path=project_dir / ".aegis.py",
        agents={"lead": Agent(provider=lead), "peer": Agent(provider=Fake())},
        default_agent="lead",
    )
    runtime = Runtime(project, env=cli_env("claude", tmp_path, model.url).env)
    runtime.inbox.poll_interval = POLL
    async with runtime:
        await runtime.sessions.spawn("peer", "peer")
        peer = FakeDriver.instances[-1]
        with anyio.fail_after(60):
            await runtime.sessions.spawn("lead", "lead")
            end = await runtime.sessions.request("lead", "please hand it over")
            await until(lambda: peer.prompts != [], timeout=10)
        transcript = await transcripts.text(runtime.sessions, "lead")
    first, second = model.requests[:2]
    assert TOOL_NAMES["claude"] in first.tools
    assert "You are agent `lead` (profile `lead`)" in first.system  # the preamble
    [result] = second.tool_results
    assert result.name == TOOL_NAMES["claude"]
    assert not result.is_error
    # claude passes on the structured result, then reminders of its own.
    answer, _ = json.JSONDecoder().raw_decode(result.output)
    assert answer == {"target": "peer", "status": "delivered", "detail": "peer starts on it now"}
    assert end.ok
    assert peer.prompts == [f"{handoff_line('lead', 'lead')}\n\nfrom claude"]
    assert "Bearer" not in transcript


@pytest.mark.parametrize("cli", ["gemini", "opencode"])
async def test_an_acp_cli_calls_the_plane_by_its_naming_with_the_sessions_token(
    cli: CliName, tmp_path: Path, model: FakeModelServer
) -> None:
    async with running(tmp_path / "aegis") as runtime:
        standin = await spawn(runtime, "lead")
        helper = await spawn(runtime, "helper")
        model.script = hand_over(helper.handle, f"from {cli}")
        servers = acp_mcp_servers(standin.driver.options.mcp_servers)

        def converse() -> str:
            executable, env, _ = cli_env(cli, tmp_path, model.url)
            project = tmp_path / "project"
            project.mkdir(exist_ok=True)
            if cli == "gemini":
                client = gemini_acp(executable, env, project, GEMINI_MODEL)
            else:
                client = opencode_acp(executable, env, project)
            with client:
                client.initialize(timeout=60)
                session = client.new_session(project, servers, timeout=60)
                return client.prompt(session, "please hand it over", timeout=60).stop_reason

        stop_reason = await anyio.to_thread.run_sync(converse)
        await until(lambda: helper.driver.prompts != [], timeout=10)
    first, second = model.requests[:2]
    assert TOOL_NAMES[cli] in first.tools
    [result] = second.tool_results
    assert not result.is_error
    assert '"status"' in result.output and "delivered" in result.output
    assert stop_reason == "end_turn"
    # The handoff acts as the session whose token the CLI was given.
    assert helper.driver.prompts == [f"{handoff_line(standin.handle)}\n\nfrom {cli}"]


async def test_claude_started_before_the_plane_serves_gets_its_tools_once_it_does(
    tmp_path: Path, model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cold start: the plane's address is handed out before its server runs, and
    the agent's connection, made meanwhile, is answered once the server serves."""
    from aegis.mcp import plane

    gate = threading.Event()
    load = plane._load_sdk

    def held_load() -> Any:  # the SDK's import, held until the agent has connected
        gate.wait(60)
        return load()

    monkeypatch.setattr(plane, "_load_sdk", held_load)
    model.script = hand_over("peer", "from a cold start")
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / ".aegis.py").write_text("# built in the test\n")
    lead = ClaudeCode(
        executable=str(cli_path("claude")),
        permission=Permission.full,
        strict_mcp_config=True,
    )
    project = Project(
        path=project_dir / ".aegis.py",
        agents={"lead": Agent(provider=lead), "peer": Agent(provider=Fake())},
        default_agent="lead",
    )
    runtime = Runtime(project, env=cli_env("claude", tmp_path, model.url).env)
    runtime.inbox.poll_interval = POLL
    try:
        async with runtime:
            assert runtime.mcp is not None and runtime.mcp.url is not None
            await runtime.sessions.spawn("peer", "peer")
            peer = FakeDriver.instances[-1]
            with anyio.fail_after(60):
                await runtime.sessions.spawn("lead", "lead")
                async with anyio.create_task_group() as tg:
                    ends: list[Any] = []

                    async def ask() -> None:
                        ends.append(await runtime.sessions.request("lead", "please hand it over"))

                    tg.start_soon(ask)
                    # claude connects to its MCP servers before its first request to the
                    # model: wait for its connection to sit in the plane's listen queue.
                    port = int(runtime.mcp.url.rsplit(":", 1)[1].split("/")[0])
                    await until(lambda: _queued_connections(port) > 0, timeout=30)
                    assert model.requests == []
                    gate.set()
                    await runtime.mcp.wait_serving()
                await until(lambda: peer.prompts != [], timeout=10)
    finally:
        gate.set()
    [end] = ends
    assert end.ok
    assert TOOL_NAMES["claude"] in model.requests[0].tools
    assert peer.prompts == [f"{handoff_line('lead', 'lead')}\n\nfrom a cold start"]


def _queued_connections(port: int) -> int:
    """Connections to 127.0.0.1:``port`` that the kernel holds for a listener that has
    not accepted them yet (the listening socket's Recv-Q in /proc/net/tcp)."""
    listening = "0A"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        if state == listening and int(local.split(":")[1], 16) == port:
            return int(queues.split(":")[1], 16)
    return 0
