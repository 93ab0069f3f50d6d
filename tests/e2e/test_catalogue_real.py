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
