"""The real claude CLI (pinned, against the fake model) through the daemon."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient, Numbered
from aegis.events import SessionStarted, TextDelta, TurnEnd, UserMessage
from aegis.testing.fakemodel import FakeModelServer, Reply, Script, shell_call
from aegis.testing.processes import wait_gone
from tests.daemon.conftest import aegis, daemon_pid, make_project, start_daemon, stop_daemon
from tests.e2e.test_exit_paths import agents_in, cmdline, processes_in
from tests.support.clis import claude_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio


async def test_a_claude_session_spawned_through_the_daemon_answers(tmp_path: Path) -> None:
    with FakeModelServer(Script().on(r"hello claude", Reply(text="hello from claude"))) as model:
        claude = claude_env(tmp_path / "claude", model.url)
        config = (
            "from aegis.config import Agent, ClaudeCode\n"
            f"agents = {{'lead': Agent(provider=ClaudeCode(executable={str(claude.executable)!r},"
            f" env={claude.env!r}))}}\n"
            "default_agent = 'lead'\n"
        )
        project = make_project(tmp_path / "project", config)
        start_daemon(project)
        try:
            daemon = DaemonClient(project / ".aegis", name="test")
            with anyio.fail_after(120):
                session = await daemon.spawn("lead")
                assert session.provider == "claude-code" and session.state == "ready"
                await daemon.send(session.handle, "hello claude")
                events = []
                async for item in daemon.events(session.handle):
                    if isinstance(item, Numbered):
                        events.append(item.event)
                        if isinstance(item.event, TurnEnd):
                            break
            assert isinstance(events[0], SessionStarted)
            assert [e.text for e in events if isinstance(e, UserMessage)] == ["hello claude"]
            assert "".join(e.text for e in events if isinstance(e, TextDelta)) in (
                "",
                "hello from claude",
            )
            end = events[-1]
            assert isinstance(end, TurnEnd) and end.ok and end.text == "hello from claude"
            assert (await daemon.session(session.handle)).cost_usd
        finally:
            stop_daemon(project)
        assert processes_in(project) == []


def test_a_workflow_delegating_to_a_claude_queue_runs_in_the_daemon(tmp_path: Path) -> None:
    script = Script().on(r"summarise the diff", Reply(text="the diff is fine"))
    with FakeModelServer(script) as model:
        claude = claude_env(tmp_path / "claude", model.url)
        config = (
            "from aegis.config import Agent, ClaudeCode\n"
            "from aegis.queue import Queue\n"
            "from aegis.workflow import workflow\n"
            f"agents = {{'worker': Agent(provider=ClaudeCode(executable="
            f"{str(claude.executable)!r}, env={claude.env!r}))}}\n"
            "default_agent = 'worker'\n"
            "queues = [Queue('reviews', agent_profile='worker', max_parallel=1)]\n"
            "@workflow\n"
            "async def review(engine) -> str:\n"
            "    return await engine.delegate('reviews', 'summarise the diff')\n"
        )
        project = make_project(tmp_path / "project", config)
        try:
            ran = aegis(project, "workflow", "run", "review")
            assert ran.returncode == 0, ran.stderr
            assert ran.stdout == "the diff is fine\n"
            assert "← [queue:reviews] summarise the diff" in ran.stderr  # the worker's turn
            assert "→ the diff is fine" in ran.stderr
            assert daemon_pid(project) is not None  # the client started it; it goes on
            [task] = json.loads(aegis(project, "queue", "tasks", "--json").stdout)
            run = json.loads(aegis(project, "workflow", "show", "last", "--json").stdout)
            assert (task["status"], task["sender"]) == ("done", f"workflow:{run['id']}")
            assert run["status"] == "ok"
        finally:
            stop_daemon(project)
        assert processes_in(project) == []


def test_aegis_ask_on_claude_goes_through_the_daemon(tmp_path: Path) -> None:
    with FakeModelServer(Script().on(r"hello claude", Reply(text="hello from claude"))) as model:
        claude = claude_env(tmp_path / "claude", model.url)
        config = (
            "from aegis.config import Agent, ClaudeCode\n"
            f"agents = {{'lead': Agent(provider=ClaudeCode(executable={str(claude.executable)!r},"
            f" env={claude.env!r}))}}\n"
            "default_agent = 'lead'\n"
        )
        project = make_project(tmp_path / "project", config)
        try:
            asked = aegis(project, "ask", "lead", "hello claude")  # starts the daemon
            assert asked.returncode == 0, asked.stderr
            assert asked.stdout == "hello from claude\n"
            pid = daemon_pid(project)
            assert pid is not None
            listed = aegis(project, "ps", "--all", "--json")
            [session] = json.loads(listed.stdout)
            assert (session["provider"], session["started_by"], session["state"]) == (
                "claude-code",
                "client:cli:ask",
                "closed",
            )
            assert session["cost_usd"]
            # The daemon gave the agent aegis's tools: claude was started with its MCP server.
            [request] = [r for r in model.requests if "hello claude" in r.user_text]
            assert any(name.startswith("mcp__aegis__") for name in request.tools)
            assert agents_in(project) == []  # the session's claude is gone; the daemon stays
        finally:
            stop_daemon(project)
        assert processes_in(project) == []


def test_a_claude_left_running_by_a_killed_daemon_is_stopped_by_the_next(tmp_path: Path) -> None:
    # claude in the middle of a tool call does not notice that its daemon died (its
    # standard input closed): it and the tool would run on, unseen, until its model
    # requests give up. The next daemon finds them by the dead daemon's process tag.
    script = Script().on(
        r"sleep now", lambda r: Reply(tool_calls=[shell_call(r, "echo started; sleep 300")])
    )
    with FakeModelServer(script) as model:
        claude = claude_env(tmp_path / "claude", model.url)
        config = (
            "from aegis.config import Agent, ClaudeCode\n"
            "agents = {'lead': Agent(provider=ClaudeCode(permission='full', "
            f"executable={str(claude.executable)!r}, env={claude.env!r}))}}\n"
            "default_agent = 'lead'\n"
        )
        project = make_project(tmp_path / "project", config)
        first = start_daemon(project)
        try:

            async def sleep_in_a_tool() -> None:
                daemon = DaemonClient(project / ".aegis", name="test")
                with anyio.fail_after(120):
                    handle = (await daemon.spawn("lead")).handle
                    await daemon.send(handle, "sleep now")

            anyio.run(sleep_in_a_tool)
            deadline = anyio.run(_until_sleeping, project)
            assert deadline, "the tool should run"
            left = agents_in(project, exclude=first)
            os.kill(first, signal.SIGKILL)
            wait_until(lambda: daemon_pid(project) is None, 30, "the daemon to die")
            assert wait_gone(left, timeout=3) != []  # orphaned, and running on
            second = start_daemon(project)
            assert second != first
            assert wait_gone(left, timeout=30) == []
            log = (project / ".aegis" / "daemon.log").read_text()
            assert f"previous daemon (pid {first}) left running" in log
        finally:
            stop_daemon(project)
        assert processes_in(project) == []


async def _until_sleeping(project: Path) -> bool:
    """Whether the agent's ``sleep 300`` ran within a minute."""
    with anyio.move_on_after(60):
        while not any("sleep 300" in cmdline(pid) for pid in processes_in(project)):
            await anyio.sleep(0.1)
        return True
    return False
