"""MCP tools over workflow runs: status, cancel and resume; a built-in plugin like ``mcp_tools``.

An agent starts a run with ``aegis_run_workflow`` (in :mod:`aegis.builtins.mcp_tools`);
these tools act on a run by its id: read where it is (``aegis_workflow_status``: any
run of the project), stop it (``aegis_workflow_cancel``: its sessions are drained and
closed, as for ``aegis workflow cancel``) and continue a failed, crashed or cancelled
one from its checkpoints (``aegis_workflow_resume``, whose outcome reaches the caller
as one message from ``workflow:<run id>``).

Who may cancel or resume a run follows the caller's profile's ``orchestrate`` field,
as for tasks (:mod:`aegis.builtins.orchestration_tools`): ``"own"`` (the default) the
runs it started, ``"any"`` any run, ``"none"`` none.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from pydantic import BaseModel, Field

from aegis.hookspecs import hookimpl
from aegis.mcp.context import ToolContext, ToolError, cap_text

if TYPE_CHECKING:
    from aegis.workflow.runner import RunRecord

log = logging.getLogger("aegis.mcp")

CANCEL_WAIT_S = 60.0
"""How long ``aegis_workflow_cancel`` waits for the run to end before answering."""
LOG_TAIL = 20
"""How many of a run's last log lines ``aegis_workflow_status`` shows."""
RESULT_BYTES = 8 * 1024
"""How much of a run's result ``aegis_workflow_status`` shows (the rest: in its record)."""

_RUN = Annotated[str, Field(description="The run id (what aegis_run_workflow returned).")]


class RunState(BaseModel):
    """Where a workflow run is."""

    run_id: str
    workflow: str
    status: str = Field(
        description="running, ok, failed (a WorkflowError, or cancelled) or crashed."
    )
    error: str | None = Field(description="Why it failed or crashed ('cancelled': it was).")
    result: str | None = Field(description="Its result when ok (cut when long).")
    arguments: dict[str, Any]
    attempt: int = Field(description="1, then one more for each resume.")
    checkpoints: list[str] = Field(description="The steps it recorded as done, in order.")
    resumable: bool = Field(description="Whether aegis_workflow_resume may continue it.")
    log: list[str] = Field(description=f"Its last {LOG_TAIL} log lines.")
    caller: str | None = Field(description="The session that started it, if an agent did.")


class ResumeStarted(BaseModel):
    """A run resumed in the background."""

    run_id: str
    workflow: str
    attempt: int
    detail: str


def _state(record: RunRecord) -> RunState:
    result = record.result
    shown = None
    if result is not None:
        text = result if isinstance(result, str) else json.dumps(result, default=str)
        shown = cap_text(text, f"aegis workflow show {record.id}", RESULT_BYTES)
    return RunState(
        run_id=record.id,
        workflow=record.workflow,
        status=record.status.value,
        error=record.error,
        result=shown,
        arguments=record.arguments,
        attempt=record.attempt,
        checkpoints=list(record.checkpoints),
        resumable=record.resumable,
        log=[f"{stamp[11:19]} {message}" for stamp, message in record.log[-LOG_TAIL:]],
        caller=record.caller_handle,
    )


async def _record(ctx: ToolContext, run_id: str) -> RunRecord:
    from aegis.workflow.runner import load_run, load_runs

    record = await anyio.to_thread.run_sync(load_run, ctx.workflows.state_dir, run_id)
    if record is None:
        latest = await anyio.to_thread.run_sync(load_runs, ctx.workflows.state_dir)
        known = ", ".join(r.id for r in latest[-5:]) or "none yet"
        raise ToolError(f"no workflow run {run_id!r} (the latest runs: {known})")
    return record


def _may_act(ctx: ToolContext, record: RunRecord, verb: str) -> None:
    """Refuse unless the caller's ``orchestrate`` lets it ``verb`` run ``record``."""
    agent = ctx.sessions.agents.get(ctx.profile)
    mode = agent.orchestrate if agent is not None else "own"
    if mode == "none":
        raise ToolError(
            f"your profile {ctx.profile!r} has orchestrate='none': it may not {verb} runs"
        )
    if mode == "own" and record.caller_handle != ctx.handle:
        started_by = f"by {record.caller_handle}" if record.caller_handle else "by a person"
        raise ToolError(
            f"run {record.id} was started {started_by}, not you: you may {verb} only the "
            f"runs you started (your profile {ctx.profile!r} has orchestrate='own'; a profile "
            "with orchestrate='any' may act on any run)"
        )


async def aegis_workflow_status(ctx: ToolContext, run: _RUN) -> RunState:
    """Where a workflow run is: its status, error or result, checkpoints and last log lines."""
    return _state(await _record(ctx, run))


async def aegis_workflow_cancel(ctx: ToolContext, run: _RUN) -> RunState:
    """Cancel a running workflow run: it stops where it is, the tasks it waits for are
    cancelled and its sessions are drained and closed; it ends failed, error 'cancelled'
    (aegis_workflow_resume can continue it). Answers once it has ended (or after a minute).
    Your profile's orchestrate says which runs: own (those you started) or any."""
    record = await _record(ctx, run)
    _may_act(ctx, record, "cancel")
    if not ctx.workflows.cancel(record.id):
        if record.status.value != "running":
            raise ToolError(f"run {record.id} has ended ({record.status.value}): nothing to cancel")
        raise ToolError(
            f"run {record.id} runs in another aegis process: it cannot be cancelled here"
        )
    log.info("workflow run %s cancelled by %s", record.id, ctx.sender)
    with anyio.move_on_after(CANCEL_WAIT_S):
        await ctx.workflows.wait(record.id)
    return _state(await _record(ctx, record.id))


async def aegis_workflow_resume(ctx: ToolContext, run: _RUN) -> ResumeStarted:
    """Continue a failed, crashed or cancelled workflow run from its last checkpoint, under
    the same run id, in the background; returns at once. Its outcome reaches you as one
    message from workflow:<run id>. Your profile's orchestrate says which runs: own
    (those you started) or any."""
    from aegis.workflow.errors import WorkflowError
    from aegis.workflow.registry import require_workflow

    record = await _record(ctx, run)
    _may_act(ctx, record, "resume")
    if not record.resumable or record.id in ctx.workflows.running:
        raise ToolError(
            f"run {record.id} is {record.status.value}: only a failed, crashed or cancelled "
            "run can be resumed"
        )
    try:
        require_workflow(record.workflow)
    except WorkflowError as exc:
        raise ToolError(str(exc)) from None
    attempt = record.attempt + 1

    async def resume() -> None:
        await _resume_and_report(ctx, record.id, record.workflow, attempt)

    ctx.run_in_background(resume, name=f"workflow resume {record.id}")
    return ResumeStarted(
        run_id=record.id,
        workflow=record.workflow,
        attempt=attempt,
        detail=f"resuming from checkpoints: {', '.join(record.checkpoints) or 'none'}; its "
        f"outcome will arrive in your inbox as a message from workflow:{record.id}",
    )


async def _resume_and_report(ctx: ToolContext, run_id: str, name: str, attempt: int) -> None:
    from aegis.errors import MessageRefused
    from aegis.session.manager import UnknownSession

    head = f"Workflow {name} (run {run_id}, attempt {attempt})"
    try:
        record = await ctx.workflows.resume(run_id)
    except anyio.get_cancelled_exc_class():
        raise
    except Exception as exc:
        text = f"{head} did not resume: {exc}"
    else:
        if record.status.value == "ok":
            result = record.result
            shown = result if isinstance(result, str) else json.dumps(result, default=str)
            text = f"{head} ended: ok.\n\n{shown}"
        else:
            text = f"{head} ended: {record.status.value}: {record.error}"
    try:
        await ctx.inbox.deliver(
            ctx.handle,
            cap_text(text, f"the whole result: aegis workflow show {run_id}"),
            f"workflow:{run_id}",
            key=f"workflow-outcome:{run_id}:{attempt}",
        )
    except (UnknownSession, MessageRefused) as exc:
        log.warning("the outcome of resumed workflow run %s was not delivered: %s", run_id, exc)


WORKFLOW_TOOLS = (aegis_workflow_status, aegis_workflow_cancel, aegis_workflow_resume)


@hookimpl
def register_tools(register: Any) -> None:
    for tool in WORKFLOW_TOOLS:
        register(tool)
