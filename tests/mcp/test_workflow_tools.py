"""An agent (the offline scripted agent, a real process) reads, cancels and resumes a
workflow run through the MCP plane, with its own token."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.builtins.workflow_tools import aegis_workflow_cancel
from aegis.config import Agent
from aegis.config.loader import Project
from aegis.mcp.context import ToolContext, ToolError
from aegis.runtime import Runtime
from aegis.session import SessionState
from aegis.workflow import WorkflowEngine, workflow
from aegis.workflow import registry as workflow_registry
from aegis.workflow.runner import RunRecord, RunStatus, load_run
from tests.queue.fakes import POLL
from tests.support import transcripts
from tests.support.waiting import until

pytestmark = pytest.mark.anyio


def mcp_rule(match: str, tool: str) -> ScriptRule:
    return ScriptRule(
        match=match,
        tool_calls=(ScriptedToolCall(tool=f"mcp:aegis/{tool}", input={"run": "{1}"}),),
        reply="{output}",
    )


AGENTS = {
    "lead": Agent(
        orchestrate="any",
        provider=Scripted(
            rules=(
                mcp_rule(r"^status (\S+)$", "aegis_workflow_status"),
                mcp_rule(r"^cancel (\S+)$", "aegis_workflow_cancel"),
                mcp_rule(r"^resume (\S+)$", "aegis_workflow_resume"),
            )
        ),
    ),
    "offline": Agent(provider=Scripted(rules=(ScriptRule(match="^slow$", reply="x", delay=60),))),
    "own": Agent(provider=Scripted()),
    "none": Agent(provider=Scripted(), orchestrate="none"),
}


def context(runtime: Runtime, profile: str) -> ToolContext:
    """What the plane gives a tool called by a session of ``profile``."""
    return ToolContext(
        handle=f"a-{profile}",
        profile=profile,
        sessions=runtime.sessions,
        inbox=runtime.inbox,
        queues=runtime.queues,
        workflows=runtime.workflows,
        project_root=runtime.project.root,
    )


@pytest.fixture
def stuck_workflow() -> Iterator[None]:
    @workflow
    async def mcp_stuck(engine: WorkflowEngine) -> str:
        """Waits on a slow agent until the file 'go' exists."""
        if "started" not in engine.resume_state():
            await engine.checkpoint("started")
        if not (engine.project_root / "go").exists():
            await engine.ask(await engine.spawn("offline"), "slow")
        return "went"

    yield
    workflow_registry._project.pop("mcp_stuck", None)


@pytest.mark.usefixtures("stuck_workflow")
async def test_an_agent_cancels_a_run_and_resumes_it_through_the_plane(tmp_path: Path) -> None:
    (tmp_path / ".aegis.py").write_text("# built in the test\n")
    runtime = Runtime(Project(tmp_path / ".aegis.py", AGENTS, "lead"))
    runtime.inbox.poll_interval = runtime.queues.poll_interval = POLL
    ended: list[RunRecord] = []
    async with runtime, anyio.create_task_group() as tg:
        sessions = runtime.sessions

        async def run() -> None:
            ended.append(await runtime.workflows.run("mcp_stuck"))

        tg.start_soon(run)
        await until(lambda: any(s.state is SessionState.busy for s in sessions.list_sessions()), 30)
        [run_id] = runtime.workflows.running
        [slow] = [s.handle for s in sessions.list_sessions()]
        lead = await sessions.spawn("lead", "lead")

        # A profile may cancel the runs it started (orchestrate="own"), or none.
        for profile, refusal in (
            ("own", f"run {run_id} was started by a person, not you: you may cancel only"),
            ("none", "your profile 'none' has orchestrate='none': it may not cancel runs"),
        ):
            with pytest.raises(ToolError, match=re.escape(refusal)):
                await aegis_workflow_cancel(context(runtime, profile), run_id)
        assert runtime.workflows.running == [run_id]

        status = json.loads((await sessions.request(lead, f"status {run_id}")).text or "")
        assert (status["status"], status["checkpoints"], status["resumable"]) == (
            "running",
            ["started"],
            False,
        )
        cancelled = json.loads((await sessions.request(lead, f"cancel {run_id}")).text or "")
        assert (cancelled["status"], cancelled["error"]) == ("failed", "cancelled")
        assert cancelled["resumable"] is True
        assert sessions.get(slow).state is SessionState.closed  # drained and closed
        assert ended[0].error == "cancelled"
        again = await sessions.request(lead, f"cancel {run_id}")
        assert "has ended (failed): nothing to cancel" in (again.text or "")

        (tmp_path / "go").touch()
        resumed = json.loads((await sessions.request(lead, f"resume {run_id}")).text or "")
        assert (resumed["run_id"], resumed["attempt"]) == (run_id, 2)
        assert "resuming from checkpoints: started" in resumed["detail"]

        async def outcome() -> list[str]:
            return [
                r["text"]
                for r in await transcripts.records(sessions, lead)
                if r.get("type") == "user_message" and r.get("sender") == f"workflow:{run_id}"
            ]

        # Its outcome reaches the agent that resumed it, as one message from the run.
        await sessions.drain(lead, timeout=30)
        await until(outcome, timeout=30)
        told = await outcome()
        unknown = await sessions.request(lead, "status nosuch")
        assert "no workflow run 'nosuch'" in (unknown.text or "")
    assert told == [f"Workflow mcp_stuck (run {run_id}, attempt 2) ended: ok.\n\nwent"]
    final = load_run(runtime.state_dir, run_id)
    assert final is not None and (final.status, final.attempt) == (RunStatus.ok, 2)
