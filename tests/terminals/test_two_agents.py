"""Two agents share one terminal through their MCP tools: the real claude CLI (on the
fake model) and the offline scripted agent, each woken when the other's command ends."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.config.enums import Permission
from aegis.config.loader import Project
from aegis.runtime import Runtime
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, mcp_call
from aegis_claude.config import ClaudeCode
from tests.queue.fakes import POLL
from tests.support import transcripts
from tests.support.clis import cli_env, cli_path
from tests.support.waiting import until

pytestmark = pytest.mark.anyio


def tool(match: str, name: str, arguments: dict[str, object]) -> ScriptRule:
    return ScriptRule(
        match=match,
        tool_calls=(ScriptedToolCall(tool=f"mcp:aegis/{name}", input=arguments),),
        reply="tool: {output}",
    )


OFFLINE = Scripted(
    rules=(
        tool("open it", "aegis_term_spawn", {"name": "shared"}),
        tool("follow it", "aegis_term_subscribe", {"name": "shared"}),
        tool("run mine", "aegis_term_run", {"name": "shared", "command": "echo offline-$((1+1))"}),
    )
)


def calls(tool_name: str, args: dict[str, object]) -> object:
    def reply(request: ModelRequest) -> Reply:
        return Reply(tool_calls=[mcp_call(request, "aegis", tool_name, args)])

    return reply


def script() -> Script:
    return (
        Script()
        .on(r"follow the terminal", calls("aegis_term_subscribe", {"name": "shared"}))
        .on(
            r"run the build",
            calls("aegis_term_run", {"name": "shared", "command": "echo claude-$((40+2))"}),
        )
        .on(r"Terminal shared:", Reply(text="noted"))
    )


async def test_claude_and_the_offline_agent_share_a_terminal(tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / ".aegis.py").write_text("# built in the test\n")
    with FakeModelServer(script()) as model:
        claude = ClaudeCode(
            executable=str(cli_path("claude")),
            permission=Permission.full,
            strict_mcp_config=True,
        )
        project = Project(
            path=project_dir / ".aegis.py",
            agents={"lead": Agent(provider=claude), "offline": Agent(provider=OFFLINE)},
            default_agent="lead",
        )
        env = {**cli_env("claude", tmp_path, model.url).env, "SHELL": shutil.which("bash") or ""}
        runtime = Runtime(project, env=env)
        runtime.inbox.poll_interval = POLL
        async with runtime:
            sessions = runtime.sessions
            with anyio.fail_after(120):
                offline = await sessions.spawn("offline", "offline")
                assert (await sessions.request(offline, "open it")).ok
                assert (await sessions.request(offline, "follow it")).ok
                lead = await sessions.spawn("lead", "lead")
                assert (await sessions.request(lead, "please follow the terminal")).ok
                built = await sessions.request(lead, "please run the build")
                assert built.ok
                # The offline agent is woken by claude's command, through its inbox.
                woken = "`echo claude-$((40+2))` (run by lead) exited with status 0"

                async def told() -> bool:
                    return woken in await transcripts.text(sessions, offline)

                await until(told, timeout=30)
                ran = await sessions.request(offline, "run mine")
                assert json.loads((ran.text or "")[len("tool: ") :])["output"] == "offline-2"
                # ... and claude by the offline agent's: a new turn to its model.
                await until(
                    lambda: any(
                        "(run by offline) exited with status 0" in r.user_text
                        for r in model.requests
                    ),
                    timeout=60,
                )
                await sessions.drain(lead, timeout=60)
            ledger = await runtime.terminals.get("shared").commands(0)
    [result] = [r for req in model.requests for r in req.tool_results if "claude-42" in r.output]
    assert result.name == "mcp__aegis__aegis_term_run" and not result.is_error
    answer, _ = json.JSONDecoder().raw_decode(result.output)
    assert (answer["exit"], answer["output"], answer["status"]) == (0, "claude-42", "done")
    assert [(c.command, c.by, c.exit) for c in ledger] == [
        ("echo claude-$((40+2))", "lead", 0),
        ("echo offline-$((1+1))", "offline", 0),
    ]
    # Neither was told of its own command.
    assert not any("(run by lead)" in r.user_text for r in model.requests)
