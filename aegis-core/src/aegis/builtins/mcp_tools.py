"""aegis's own MCP tools: a built-in plugin, registered through ``register_tools`` like any other.

Every tool acts as its caller, whose identity the plane takes from the caller's
bearer token (:class:`~aegis.mcp.ToolContext`), never from an argument: a
handoff is tagged ``agent:<caller>``, a task is enqueued by ``agent:<caller>``
and its callback comes back to the caller, a workflow runs with the caller as
its ``caller_handle`` and reports back to it.

Texts (a message, a payload, a workflow's arguments) are limited to
:data:`~aegis.mcp.MAX_TEXT_BYTES` (64 KiB) each. Bad input answers with an error
result that says what exists (the live sessions, the queues, the workflows, the
arguments a workflow takes).

This module is imported whenever plugins load, so what it needs beyond pydantic
is imported inside the tools.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Annotated, Any, Literal

import anyio
from pydantic import BaseModel, Field

from aegis.hookspecs import hookimpl
from aegis.mcp.context import MAX_TEXT_BYTES, ToolContext, ToolError, cap_text, check_size

log = logging.getLogger("aegis.mcp")

REPORT_TIMEOUT_S = 5.0
"""How long reporting a workflow's end may take while aegis is stopping."""

_LIMIT = f"at most {MAX_TEXT_BYTES // 1024} KiB"

HANDOFF_HEADER = "Message from agent {handle} (profile {profile}), sent with aegis_handoff:"
"""The first line of a handoff as its target sees it: who it is from, so it can answer."""


# --- results ----------------------------------------------------------------------------------


class SessionSummary(BaseModel):
    """One session of this aegis process."""

    handle: str = Field(description="Its handle: what aegis_handoff takes as target.")
    profile: str = Field(description="Its agent profile.")
    provider: str = Field(description="The harness it runs on (claude-code, gemini, ...).")
    state: str = Field(description="starting, ready, busy, closed or failed.")
    queued: int = Field(description="Messages waiting in its inbox.")


class QueueSummary(BaseModel):
    """One queue of worker agents."""

    name: str = Field(description="What aegis_enqueue takes as queue.")
    agent_profile: str = Field(description="The profile of its workers.")
    max_parallel: int = Field(description="How many of its tasks run at once.")
    queued: int = Field(description="Tasks waiting.")
    running: int = Field(description="Tasks running.")


class MetaResult(BaseModel):
    """Who you are, and what you can reach."""

    handle: str = Field(description="Your handle: how others address you.")
    profile: str = Field(description="Your agent profile.")
    peers: list[SessionSummary] = Field(description="The other live sessions.")
    queues: list[QueueSummary]
    workflows: list[str] = Field(description="Names of the workflows (see aegis_list_workflows).")
    max_text_bytes: int = Field(description="The size limit of a message or payload, in bytes.")
    folder: str | None = Field(
        default=None, description="Your working directory (where your files are)."
    )
    branch: str | None = Field(
        default=None,
        description="The git branch you work on, in a worktree of your own (null: you share "
        "the project's folder with the other agents). Your changes are reviewed and landed "
        "from it; you need not merge or push it yourself.",
    )
    base: str | None = Field(
        default=None, description="The branch your worktree started from and lands into."
    )


class SessionList(BaseModel):
    """The sessions of this aegis process, in the order they were opened."""

    you: str = Field(description="Your own handle.")
    sessions: list[SessionSummary]


class HandoffResult(BaseModel):
    """What became of a handoff."""

    target: str
    status: Literal["delivered", "queued", "held"] = Field(
        description="delivered: the target starts on it now; queued: it waits in the target's "
        "inbox behind its current work; held: the target is not running, and gets it when "
        "it is resumed."
    )
    detail: str


class EnqueueResult(BaseModel):
    """A task added to a queue."""

    task_id: str = Field(description="What aegis_task_status takes.")
    queue: str
    callback: bool = Field(description="Whether its result will come back to you as a message.")
    detail: str


class TaskStatusResult(BaseModel):
    """A queued task, as it stands."""

    task_id: str
    queue: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    sender: str = Field(description="Who enqueued it (agent:<handle>, user, workflow:<run>).")
    callback: bool
    result: str | None = Field(description="The worker's final answer, once done.")
    error: str | None = Field(description="Why it failed or was cancelled.")
    worker_handle: str | None = Field(description="The session that ran (or runs) it.")
    attempt: int
    created_at: float = Field(description="Epoch seconds.")
    started_at: float | None
    finished_at: float | None


class WorkflowParameter(BaseModel):
    """One argument of a workflow."""

    name: str
    type: str
    required: bool
    default: str | None = Field(description="The default, when it is optional.")


class WorkflowSummary(BaseModel):
    """A workflow you can run with aegis_run_workflow."""

    name: str
    description: str
    parameters: list[WorkflowParameter]


class WorkflowList(BaseModel):
    """The workflows of this project (its .aegis.py, and those of installed packages)."""

    workflows: list[WorkflowSummary]


class RunStarted(BaseModel):
    """A workflow run started in the background."""

    run_id: str
    workflow: str
    detail: str


# --- helpers ------------------------------------------------------------------------------------


def _summary(info: Any) -> SessionSummary:
    return SessionSummary(
        handle=info.handle,
        profile=info.profile,
        provider=info.provider,
        state=info.state.value,
        queued=info.queued,
    )


def _live_peers(ctx: ToolContext) -> list[SessionSummary]:
    return [
        _summary(info)
        for info in ctx.sessions.list_sessions()
        if info.state.live and info.handle != ctx.handle
    ]


def _peers_hint(ctx: ToolContext) -> str:
    peers = _live_peers(ctx)
    if not peers:
        return "No other session is live."
    listed = ", ".join(f"{p.handle} ({p.profile}, {p.state})" for p in peers)
    return f"Live sessions: {listed}."


# --- the tools ------------------------------------------------------------------------------------


async def aegis_meta(ctx: ToolContext) -> MetaResult:
    """Who you are (your handle and profile), where you work (your folder, and your git
    branch when you have a worktree of your own), your peers (the other live sessions,
    with their profile and state), the queues you can hand tasks to and the workflows
    you can run."""
    queues = ctx.queues
    counts = await queues.counts()
    from aegis.workflow.registry import list_workflows

    folder = branch = base = None
    try:
        info = ctx.sessions.get(ctx.handle)
    except LookupError:  # a context made outside a runtime (a test's)
        info = None
    if info is not None:
        folder = str(info.cwd) if info.cwd else None
        branch = info.branch
        if info.worktree is not None:
            record = await anyio.to_thread.run_sync(ctx.sessions.worktrees.load, info.worktree)
            base = record.base if record is not None else None

    return MetaResult(
        handle=ctx.handle,
        profile=ctx.profile,
        peers=_live_peers(ctx),
        queues=[
            QueueSummary(
                name=q.name,
                agent_profile=q.agent_profile,
                max_parallel=q.max_parallel,
                queued=counts.get(q.name, {}).get("queued", 0),
                running=counts.get(q.name, {}).get("running", 0),
            )
            for q in queues.queues.values()
        ],
        workflows=list_workflows(),
        max_text_bytes=MAX_TEXT_BYTES,
        folder=folder,
        branch=branch,
        base=base,
    )


async def aegis_list_sessions(
    ctx: ToolContext,
    include_ended: Annotated[
        bool, Field(description="Also list sessions that have closed or failed.")
    ] = False,
) -> SessionList:
    """The sessions of this aegis process (you included): handle, profile, harness, state
    and how many messages wait in each one's inbox."""
    sessions = [
        _summary(info) for info in ctx.sessions.list_sessions() if include_ended or info.state.live
    ]
    return SessionList(you=ctx.handle, sessions=sessions)


async def aegis_handoff(
    ctx: ToolContext,
    target: Annotated[
        str, Field(description="The handle of the session to send to (see aegis_list_sessions).")
    ],
    message: Annotated[str, Field(description=f"What to tell it; {_LIMIT}.")],
) -> HandoffResult:
    """Send a message to another agent's session, from you.

    It reaches the target as a new turn that starts with a line naming you, so it can
    answer with aegis_handoff too. A target that is busy gets it once its current turn
    and the messages before it are done; messages are delivered in the order sent. The
    answer says whether it was delivered now, queued, or held for a session that is not
    running. Returns at once: it does not wait for the target's reply."""
    from aegis.errors import MessageRefused
    from aegis.session.info import SessionState
    from aegis.session.manager import UnknownSession

    if target == ctx.handle:
        raise ToolError(
            f"you are {ctx.handle}: a handoff goes to another session. {_peers_hint(ctx)}"
        )
    check_size("message", message)
    if not message.strip():
        raise ToolError("message is empty: say what the target should do")
    sessions, inbox = ctx.sessions, ctx.inbox
    try:
        before = sessions.get(target)
    except UnknownSession:
        before = None
    text = f"{HANDOFF_HEADER.format(handle=ctx.handle, profile=ctx.profile)}\n\n{message}"
    try:
        handed_over = await inbox.deliver(target, text, ctx.sender)
    except UnknownSession:
        raise ToolError(f"no session {target!r}. {_peers_hint(ctx)}") from None
    except MessageRefused as exc:
        raise ToolError(f"the message to {target} was refused: {exc}") from None
    if not handed_over and before is None and not sessions.known(target):
        # Held in the database shared by hosts, for the runtime that holds the target.
        return HandoffResult(
            target=target,
            status="held",
            detail=f"{target} runs on another host; its aegis takes the message within a "
            "second and delivers it there",
        )
    if not handed_over:
        return HandoffResult(
            target=target,
            status="held",
            detail=f"{target} is not running; it gets the message when it is resumed",
        )
    if before is not None and before.state is SessionState.ready and before.queued == 0:
        return HandoffResult(target=target, status="delivered", detail=f"{target} starts on it now")
    ahead = before.queued if before is not None else 0
    state = before.state.value if before is not None else "starting"
    behind = f" behind {ahead} earlier message(s)" if ahead else ""
    return HandoffResult(
        target=target,
        status="queued",
        detail=f"{target} is {state}; your message waits in its inbox{behind} "
        "and is delivered in order",
    )


async def aegis_enqueue(
    ctx: ToolContext,
    queue: Annotated[str, Field(description="The queue's name (see aegis_meta).")],
    payload: Annotated[
        str, Field(description=f"The task: the first message its worker gets; {_LIMIT}.")
    ],
    callback: Annotated[
        bool,
        Field(description="Send the task's result back to you as a message when it ends."),
    ] = True,
) -> EnqueueResult:
    """Hand a task to a queue of worker agents; returns its task id at once.

    A fresh worker session of the queue's profile gets the payload as its first message;
    its final answer is the task's result. With callback (the default) the result (or
    the error) reaches you as one message from queue:<name> naming the task id; without
    it, ask aegis_task_status."""
    from aegis.queue.backend import PayloadTooLarge
    from aegis.queue.manager import UnknownQueue

    check_size("payload", payload)
    if not payload.strip():
        raise ToolError("payload is empty: say what the worker should do")
    try:
        task_id = await ctx.queues.enqueue(queue, payload, sender=ctx.sender, callback=callback)
    except UnknownQueue as exc:
        raise ToolError(str(exc)) from None
    except PayloadTooLarge as exc:
        raise ToolError(f"{exc}: {exc.hint}") from None
    detail = (
        f"queued; its result will arrive in your inbox as a message from queue:{queue}"
        if callback
        else "queued; check it with aegis_task_status"
    )
    return EnqueueResult(task_id=task_id, queue=queue, callback=callback, detail=detail)


async def aegis_task_status(
    ctx: ToolContext,
    task_id: Annotated[str, Field(description="The id aegis_enqueue returned.")],
) -> TaskStatusResult:
    """The status of a queued task: queued, running, done, failed or cancelled, with its
    result or error once it has ended."""
    queues = ctx.queues
    task = await queues.get(task_id.strip())
    if task is None:
        mine = [t.id for t in await queues.list_tasks(limit=500) if t.sender == ctx.sender]
        known = f"Your latest tasks: {', '.join(mine[-5:])}." if mine else "You enqueued none."
        raise ToolError(f"no task {task_id!r}. {known}")
    return TaskStatusResult(
        task_id=task.id,
        queue=task.queue,
        status=task.status.value,
        sender=task.sender,
        callback=task.callback,
        result=task.result,
        error=task.error,
        worker_handle=task.worker_handle,
        attempt=task.attempt,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
    )


async def aegis_list_workflows(ctx: ToolContext) -> WorkflowList:
    """The workflows you can run with aegis_run_workflow: name, description and arguments."""
    from aegis.workflow.registry import get_workflow, list_workflows

    summaries = []
    for name in list_workflows():
        fn = get_workflow(name)
        if fn is not None:
            summaries.append(_describe_workflow(name, fn))
    return WorkflowList(workflows=summaries)


def _describe_workflow(name: str, fn: Any) -> WorkflowSummary:
    from typing import get_type_hints

    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolvable annotations: show them as written
        hints = {}
    parameters = []
    for param in list(inspect.signature(fn).parameters.values())[1:]:  # the engine first
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        kind = hints.get(param.name, param.annotation)
        type_name = getattr(kind, "__name__", None) or (
            "str" if kind is inspect.Parameter.empty else str(kind)
        )
        required = param.default is inspect.Parameter.empty
        parameters.append(
            WorkflowParameter(
                name=param.name,
                type=type_name,
                required=required,
                default=None if required else repr(param.default),
            )
        )
    doc = inspect.getdoc(fn) or ""
    return WorkflowSummary(name=name, description=doc.split("\n\n")[0], parameters=parameters)


async def aegis_run_workflow(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The workflow's name (see aegis_list_workflows).")],
    arguments: Annotated[
        dict[str, str | int | float | bool] | None,
        Field(description=f"Its arguments by name, e.g. {{'base': 'main'}}; {_LIMIT} in all."),
    ] = None,
) -> RunStarted:
    """Start a workflow in the background, with you as its caller; returns its run id at once.

    When it ends, its outcome (ok with its result, failed or crashed with the error)
    reaches you as one message from workflow:<run id>."""
    from aegis.workflow.errors import WorkflowError
    from aegis.workflow.registry import require_workflow
    from aegis.workflow.runner import coerce_arguments, new_run_id

    try:
        fn = require_workflow(name)
    except WorkflowError as exc:
        raise ToolError(str(exc)) from None
    raw = {key: _as_text(value) for key, value in (arguments or {}).items()}
    check_size("arguments", json.dumps(raw))
    try:
        coerce_arguments(fn, raw)  # refused now, not in a run record the caller never sees
    except WorkflowError as exc:
        raise ToolError(f"workflow {name}: {exc}") from None
    run_id = new_run_id(name)

    async def run() -> None:
        await _run_and_report(ctx, name, raw, run_id)

    ctx.run_in_background(run, name=f"workflow run {run_id}")
    return RunStarted(
        run_id=run_id,
        workflow=name,
        detail=f"running; its outcome will arrive in your inbox as a message from "
        f"workflow:{run_id}",
    )


def _as_text(value: str | int | float | bool) -> str:
    # Workflows take their arguments as the command line gives them: text, converted
    # to the types their signature declares.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _run_and_report(ctx: ToolContext, name: str, raw: dict[str, str], run_id: str) -> None:
    head = f"Workflow {name} (run {run_id})"
    try:
        record = await ctx.workflows.run(name, raw, caller_handle=ctx.handle, run_id=run_id)
    except anyio.get_cancelled_exc_class():
        with anyio.move_on_after(REPORT_TIMEOUT_S, shield=True):
            await _report(ctx, run_id, f"{head} crashed: cancelled: aegis stopped")
        raise
    except Exception as exc:
        await _report(ctx, run_id, f"{head} crashed: {type(exc).__name__}: {exc}")
        return
    status = record.status.value
    if status == "ok":
        result = record.result
        if result is None:
            shown = "(no result)"
        elif isinstance(result, str):
            shown = result
        else:
            shown = json.dumps(result, indent=1, default=str)
        text = f"{head} ended: ok.\n\n{shown}"
    else:
        text = f"{head} ended: {status}: {record.error}"
    # The whole result stays in the run record; the agent gets what a message may hold.
    await _report(ctx, run_id, cap_text(text, f"the whole result: aegis workflow show {run_id}"))


async def _report(ctx: ToolContext, run_id: str, text: str) -> None:
    from aegis.errors import MessageRefused
    from aegis.session.manager import UnknownSession

    try:
        # Keyed: the outcome of a run reaches its caller once, whatever happens.
        await ctx.inbox.deliver(
            ctx.handle, text, f"workflow:{run_id}", key=f"workflow-outcome:{run_id}"
        )
    except (UnknownSession, MessageRefused) as exc:
        log.warning("the outcome of workflow run %s was not delivered: %s", run_id, exc)


BUILTIN_TOOLS = (
    aegis_meta,
    aegis_list_sessions,
    aegis_handoff,
    aegis_enqueue,
    aegis_task_status,
    aegis_list_workflows,
    aegis_run_workflow,
)


@hookimpl
def register_tools(register: Any) -> None:
    for tool in BUILTIN_TOOLS:
        register(tool)
