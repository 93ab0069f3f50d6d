"""A catalogue workflow driving a real CLI: tdd_loop with Claude Code as the implementer."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.config import Agent
from aegis.config.loader import Project
from aegis.runtime import Runtime
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, shell_call
from aegis.workflow.runner import RunStatus
from aegis_claude.config import ClaudeCode
from tests.support.clis import claude_env

pytestmark = pytest.mark.anyio


async def test_tdd_loop_with_claude_runs_until_the_check_passes(tmp_path: Path) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()

    def fix(request: ModelRequest) -> Reply:
        return Reply(tool_calls=[shell_call(request, "touch fixed.txt")])

    script = Script().on(r"must pass", fix)
    with FakeModelServer(script) as server:
        cli = claude_env(tmp_path, server.url)
        agents = {
            "dev": Agent(provider=ClaudeCode(permission="full", executable=str(cli.executable)))
        }
        project = Project(project_dir / ".aegis.py", agents, "dev")
        async with Runtime(project, env=cli.env, mcp=False) as runtime:
            record = await runtime.workflows.run(
                "tdd_loop",
                {
                    "predicate": "test -f fixed.txt",
                    "task": "Create fixed.txt",
                    "implementer": "dev",
                },
            )
        bash_results = [result.output for r in server.requests for result in r.tool_results]
    assert record.status is RunStatus.ok, record.error
    assert record.result == "`test -f fixed.txt` passes after 1 round(s)"
    assert (project_dir / "fixed.txt").exists()
    assert bash_results, "claude ran the shell tool and sent its result to the model"


async def test_bash_predicate_feeds_the_failure_back_to_the_claude_session_it_names(
    tmp_path: Path,
) -> None:
    from aegis.session.transcript import read_records
    from aegis.workflow import WorkflowEngine, workflow
    from aegis.workflow import registry as workflow_registry

    @workflow
    async def predicate_with_claude(engine: WorkflowEngine) -> str:
        await engine.spawn("dev", handle="bystander")
        worker = await engine.spawn("dev", handle="worker")
        await engine.ask(worker, "Get ready.")
        result = await engine.bash_predicate(
            "test -f fixed.txt",
            "The check `{cmd}` failed with exit {exit}: create the missing file now.",
            handle=worker,
        )
        return f"exit {result.returncode}"

    project_dir = tmp_path / "project"
    project_dir.mkdir()

    def fix(request: ModelRequest) -> Reply:
        return Reply(tool_calls=[shell_call(request, "touch fixed.txt")])

    script = Script().on(r"create the missing file", fix)
    try:
        with FakeModelServer(script) as server:
            cli = claude_env(tmp_path, server.url)
            agents = {
                "dev": Agent(provider=ClaudeCode(permission="full", executable=str(cli.executable)))
            }
            project = Project(project_dir / ".aegis.py", agents, "dev")
            async with Runtime(project, env=cli.env, mcp=False) as runtime:
                record = await runtime.workflows.run("predicate_with_claude")
                paths = {h: runtime.sessions.transcript_path(h) for h in ("worker", "bystander")}
    finally:
        workflow_registry._project.pop("predicate_with_claude", None)
    assert record.status is RunStatus.ok, record.error
    assert record.result == "exit 0"

    def told(handle: str) -> list[str]:
        return [r["text"] for r in read_records(paths[handle]) if r.get("type") == "user_message"]

    feedback = "The check `test -f fixed.txt` failed with exit 1: create the missing file now."
    assert told("worker") == ["Get ready.", feedback]
    assert told("bystander") == []
    assert (project_dir / "fixed.txt").exists()
