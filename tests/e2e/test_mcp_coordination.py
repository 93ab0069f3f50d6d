"""Agents of all three real CLIs coordinating through the MCP plane, each through its aegis driver.

* A Claude session's model calls ``aegis_handoff`` to a Gemini session, which receives
  the message tagged ``agent:<claude's handle>`` and answers it.
* An OpenCode session's model calls ``aegis_enqueue`` on a queue whose worker is
  Claude, and receives the task's result as a callback tagged ``queue:<name>``.

Both run under permission ``auto``: aegis's own tools are allowed at every level.
One fake model server speaks all three vendors' APIs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from aegis.config import Agent
from aegis.config.loader import Project
from aegis.events import Event, TurnEnd, UserMessage
from aegis.queue import Queue
from aegis.runtime import Runtime
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, mcp_call
from aegis_claude.config import ClaudeCode
from aegis_gemini.config import GeminiCLI
from aegis_opencode.config import OpenCode
from tests.support.clis import GEMINI_MODEL, claude_env, gemini_env, opencode_env

pytestmark = pytest.mark.anyio


def calls(
    tool: str, arguments: Callable[[ModelRequest], dict[str, object]]
) -> Callable[[ModelRequest], Reply]:
    def reply(request: ModelRequest) -> Reply:
        return Reply(tool_calls=[mcp_call(request, "aegis", tool, arguments(request))])

    return reply


async def events_until(
    stream: object, handle: str, done: Callable[[Event], bool], timeout: float = 90
) -> list[Event]:
    seen: list[Event] = []
    with anyio.fail_after(timeout):
        async for source, event in stream:  # type: ignore[attr-defined]
            if source == handle:
                seen.append(event)
                if done(event):
                    return seen
    raise AssertionError("the stream ended")


async def test_claude_hands_off_to_gemini_which_answers(tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    with FakeModelServer() as model:
        claude = claude_env(tmp_path / "claude", model.url)
        gemini = gemini_env(tmp_path / "gemini", model.url)
        agents = {
            "lead": Agent(provider=ClaudeCode(executable=str(claude.executable), env=claude.env)),
            "analyst": Agent(
                provider=GeminiCLI(
                    model=GEMINI_MODEL, executable=str(gemini.executable), env=gemini.env
                )
            ),
        }
        project = Project(project_dir / ".aegis.py", agents, "lead")
        async with Runtime(project) as runtime:
            analyst = await runtime.sessions.spawn("analyst")
            model.script = (
                Script()
                .on(
                    r"ask the analyst",
                    calls(
                        "aegis_handoff",
                        lambda _: {"target": analyst, "message": "what is 6 x 7?"},
                    ),
                )
                .on(r"what is 6 x 7", Reply(text="The analyst says: 42."))
            )
            lead = await runtime.sessions.spawn("lead")
            with runtime.sessions.subscribe() as stream:
                end = await runtime.sessions.request(lead, "please ask the analyst")
                seen = await events_until(stream, analyst, lambda e: isinstance(e, TurnEnd))
    assert end.ok, end.error
    [received] = [e for e in seen if isinstance(e, UserMessage) and e.sender != "user"]
    assert received.sender == f"agent:{lead}"
    assert received.text.endswith("what is 6 x 7?")
    answer = seen[-1]
    assert isinstance(answer, TurnEnd)
    assert answer.ok
    assert answer.text == "The analyst says: 42."
    gemini_requests = [r for r in model.requests if r.api == "gemini"]
    assert any("mcp_aegis_aegis_handoff" in r.tools for r in gemini_requests)


async def test_opencode_enqueues_to_a_claude_queue_and_gets_the_callback(tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    with FakeModelServer() as model:
        claude = claude_env(tmp_path / "claude", model.url)
        opencode = opencode_env(tmp_path / "opencode", model.url, project=project_dir)
        agents = {
            "planner": Agent(
                provider=OpenCode(executable=str(opencode.executable), env=opencode.env)
            ),
            "coder": Agent(provider=ClaudeCode(executable=str(claude.executable), env=claude.env)),
        }
        project = Project(
            project_dir / ".aegis.py",
            agents,
            "planner",
            queues={"coding": Queue("coding", agent_profile="coder", max_parallel=1)},
        )
        model.script = (
            Script()
            .on(
                r"get it coded",
                calls("aegis_enqueue", lambda _: {"queue": "coding", "payload": "write the code"}),
            )
            .on(r"write the code", Reply(text="claude wrote the code"))
            .on(r"claude wrote the code", Reply(text="thanks, the code is written"))
        )
        async with Runtime(project) as runtime:
            planner = await runtime.sessions.spawn("planner")
            with runtime.sessions.subscribe() as stream:
                end = await runtime.sessions.request(planner, "please get it coded")
                seen = await events_until(
                    stream,
                    planner,
                    lambda e: isinstance(e, TurnEnd) and "thanks" in e.text,
                )
    assert end.ok, end.error
    [callback] = [e for e in seen if isinstance(e, UserMessage) and e.sender != "user"]
    assert callback.sender == "queue:coding"
    assert "claude wrote the code" in callback.text
    assert "ok" in callback.text
    openai_requests = [r for r in model.requests if r.api == "openai"]
    assert any("aegis_aegis_enqueue" in r.tools for r in openai_requests)
    assert any(r.api == "anthropic" and "write the code" in r.user_text for r in model.requests)
