"""MCP tools for agents that orchestrate: a built-in plugin, like ``mcp_tools``.

An agent lists the profiles it could spawn, spawns helper sessions (closed when it
ends, unless kept), closes or interrupts them, cancels the tasks it enqueued, and
sends one message to a group of sessions, waiting for all replies or the first.

Who may stop what is decided by the caller's identity (from its token, see
:class:`~aegis.mcp.ToolContext`) and its profile's ``orchestrate`` field: ``"own"``
(the default) the sessions it spawned and the tasks it enqueued, ``"any"`` any
session or task of the project, ``"none"`` nothing (it may not spawn either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field

from aegis.hookspecs import hookimpl
from aegis.mcp.context import MAX_TEXT_BYTES, ToolContext, ToolError, cap_text, check_size

if TYPE_CHECKING:
    from aegis.session.helpers import HelperLedger

MAX_LIVE_HELPERS = 16
"""How many live helpers one agent may have at once (a runaway loop of spawns stops here)."""

DEFAULT_GROUP_TIMEOUT_S = 600.0
MAX_GROUP_TIMEOUT_S = 3600.0

GROUP_HEADER = (
    "Message from agent {handle} (profile {profile}), sent with aegis_group: "
    "it waits for your answer, which is your final message of this turn."
)
"""The first line of a group's message as each target sees it."""

_LIMIT = f"at most {MAX_TEXT_BYTES // 1024} KiB"


# --- results ----------------------------------------------------------------------------------


class ProfileSummary(BaseModel):
    """An agent profile: what aegis_spawn takes."""

    name: str
    description: str = Field(description="What it is for.")
    provider: str = Field(description="The harness it runs on (claude-code, gemini, ...).")
    model: str | None = Field(description="Its model (null: the CLI's default).")
    workspace: str = Field(
        description="project (the shared folder) or worktree (a branch of its own)."
    )
    orchestrate: str = Field(description="What its sessions may stop: none, own or any.")


class HelperSummary(BaseModel):
    """A session you spawned."""

    handle: str
    profile: str
    state: str
    keep: bool = Field(description="Whether it outlives you.")


class ProfileList(BaseModel):
    """The agent profiles of this project, and your live helpers."""

    you: str = Field(description="Your own profile.")
    orchestrate: str = Field(description="What you may stop: none, own or any.")
    profiles: list[ProfileSummary]
    helpers: list[HelperSummary] = Field(description="The live sessions you spawned.")


class SpawnResult(BaseModel):
    """A helper session, started and ready."""

    handle: str = Field(
        description="Its handle: what aegis_group, aegis_handoff and aegis_close take."
    )
    profile: str
    provider: str
    state: str
    keep: bool
    detail: str


class Done(BaseModel):
    """An action done."""

    target: str
    detail: str


class TaskCancelled(BaseModel):
    """A task, as it ended."""

    task_id: str
    status: str = Field(description="cancelled, or how it had already ended: done, failed.")
    detail: str


class GroupReplySummary(BaseModel):
    """What one target of a group answered."""

    target: str
    status: Literal["ok", "failed", "timeout", "cancelled", "skipped"] = Field(
        description="ok: it answered (text); failed: its turn failed (error); timeout: no "
        "answer in time, its turn was stopped; cancelled: another answered first "
        "(wait='first'), its turn was stopped; skipped: never sent (the group was over "
        "before its turn under max_concurrency)."
    )
    text: str | None = Field(description="Its final message of the turn.")
    error: str | None


class GroupResult(BaseModel):
    """The replies of a group, in the order of its targets."""

    replies: list[GroupReplySummary]
    answered: int = Field(description="How many answered (status ok).")


# --- helpers ------------------------------------------------------------------------------------


def _ledger(ctx: ToolContext) -> HelperLedger:
    if ctx.helpers is None:
        raise ToolError("spawning helpers is not available here")
    return ctx.helpers


def _mode(ctx: ToolContext) -> str:
    agent = ctx.sessions.agents.get(ctx.profile)
    return agent.orchestrate if agent is not None else "own"


def _refuse_none(ctx: ToolContext, what: str) -> None:
    if _mode(ctx) == "none":
        raise ToolError(f"your profile {ctx.profile!r} has orchestrate='none': it may not {what}")


async def _may_stop(ctx: ToolContext, target: str, verb: str) -> None:
    """Refuse unless the caller may close or interrupt session ``target``."""
    from aegis.session.manager import UnknownSession

    if target == ctx.handle:
        raise ToolError(f"you are {target}: you cannot {verb} your own session")
    _refuse_none(ctx, f"{verb} sessions")
    try:
        ctx.sessions.get(target)
    except UnknownSession:
        raise ToolError(f"no session {target!r}. {_yours(ctx)}") from None
    if _mode(ctx) == "any" or _ledger(ctx).owner_of(target) == ctx.handle:
        return
    running = await ctx.queues.list_tasks(status="running", limit=None)
    for task in running:
        if task.worker_handle == target and task.sender == ctx.sender:
            raise ToolError(
                f"{target} is the worker of your task {task.id}: stop it with aegis_cancel_task"
            )
    raise ToolError(
        f"you did not spawn {target}: you may {verb} only the sessions you spawned with "
        f"aegis_spawn (your profile {ctx.profile!r} has orchestrate='own'; a profile with "
        f"orchestrate='any' may {verb} any session). {_yours(ctx)}"
    )


def _yours(ctx: ToolContext) -> str:
    mine = [h.handle for h in _ledger(ctx).helpers_of(ctx.handle)] if ctx.helpers else []
    return f"Your live helpers: {', '.join(mine)}." if mine else "You have no live helpers."


def _profiles_hint(ctx: ToolContext) -> str:
    return f"Profiles: {', '.join(ctx.sessions.agents) or 'none'} (see aegis_list_profiles)."


# --- the tools ------------------------------------------------------------------------------------


async def aegis_list_profiles(ctx: ToolContext) -> ProfileList:
    """The agent profiles you can spawn with aegis_spawn, with what each is for (its
    description), its harness and model; and your live helpers."""
    profiles = [
        ProfileSummary(
            name=name,
            description=agent.description,
            provider=agent.harness,
            model=agent.model,
            workspace=agent.workspace,
            orchestrate=agent.orchestrate,
        )
        for name, agent in ctx.sessions.agents.items()
    ]
    helpers = []
    if ctx.helpers is not None:
        for helper in ctx.helpers.helpers_of(ctx.handle):
            state = ctx.sessions.get(helper.handle).state.value
            helpers.append(
                HelperSummary(
                    handle=helper.handle, profile=helper.profile, state=state, keep=helper.keep
                )
            )
    return ProfileList(you=ctx.profile, orchestrate=_mode(ctx), profiles=profiles, helpers=helpers)


async def aegis_spawn(
    ctx: ToolContext,
    profile: Annotated[str, Field(description="The agent profile (see aegis_list_profiles).")],
    keep: Annotated[
        bool,
        Field(description="Let it outlive you; by default it is closed when your session ends."),
    ] = False,
    handle: Annotated[
        str | None,
        Field(
            description="Its handle, if you want to choose one (lower-case letters, digits, "
            "'-', '_'; never used before in this project). Default: a new one."
        ),
    ] = None,
) -> SpawnResult:
    """Start a helper session of an agent profile and return its handle once it is ready.

    It is yours: you may close it (aegis_close) or interrupt it (aegis_interrupt), and it
    is closed when your own session ends unless you keep it. Give it work with
    aegis_group (and wait for its answer) or aegis_handoff (and go on)."""
    from aegis.errors import ConfigError, DriverError, WorkspaceError
    from aegis.session.handles import HandleTaken

    _refuse_none(ctx, "spawn helpers")
    ledger = _ledger(ctx)
    if profile not in ctx.sessions.agents:
        raise ToolError(f"no agent profile {profile!r}. {_profiles_hint(ctx)}")
    live = ledger.helpers_of(ctx.handle)
    if len(live) >= MAX_LIVE_HELPERS:
        raise ToolError(
            f"you have {len(live)} live helpers, the most one agent may have: close one "
            f"(aegis_close) first. {_yours(ctx)}"
        )
    try:
        spawned = await ctx.sessions.spawn(profile, handle, wait=False, started_by=ctx.sender)
    except (HandleTaken, ValueError) as exc:
        raise ToolError(f"{exc}; leave handle out to get a new one") from None
    except (ConfigError, WorkspaceError) as exc:
        raise ToolError(f"the {profile} session could not start: {exc}") from None
    # Recorded before it is ready: a call given up meanwhile still leaves it the caller's.
    ledger.record(spawned, owner=ctx.handle, profile=profile, keep=keep)
    try:
        await ctx.sessions.wait_ready(spawned)
    except DriverError as exc:
        raise ToolError(f"the {profile} session could not start: {exc}") from None
    info = ctx.sessions.get(spawned)
    lasts = "it outlives you" if keep else "it is closed when your session ends"
    return SpawnResult(
        handle=spawned,
        profile=profile,
        provider=info.provider,
        state=info.state.value,
        keep=keep,
        detail=f"{spawned} is ready; {lasts}",
    )


async def aegis_close(
    ctx: ToolContext,
    target: Annotated[str, Field(description="The handle of a session you spawned.")],
) -> Done:
    """Close a session you spawned: its agent stops, whatever it was doing, and the
    messages waiting for it are dropped. Its own helpers are closed with it."""
    await _may_stop(ctx, target, "close")
    if not ctx.sessions.get(target).state.live:
        return Done(target=target, detail=f"{target} had already ended")
    await ctx.sessions.close(target)
    return Done(target=target, detail=f"{target} closed")


async def aegis_interrupt(
    ctx: ToolContext,
    target: Annotated[str, Field(description="The handle of a session you spawned.")],
) -> Done:
    """Stop the turn a session you spawned is running; it stays open and takes the next
    message (those already waiting in its inbox stay there)."""
    await _may_stop(ctx, target, "interrupt")
    info = ctx.sessions.get(target)
    if info.state.value != "busy":
        return Done(target=target, detail=f"{target} is {info.state.value}: nothing to interrupt")
    await ctx.sessions.interrupt(target)
    return Done(target=target, detail=f"{target}'s turn interrupted")


async def aegis_cancel_task(
    ctx: ToolContext,
    task_id: Annotated[str, Field(description="The id aegis_enqueue returned.")],
) -> TaskCancelled:
    """Cancel a task you enqueued: a queued one never runs, a running one has its worker
    stopped. An ended task is left as it is."""
    _refuse_none(ctx, "cancel tasks")
    queues = ctx.queues
    task = await queues.get(task_id.strip())
    if task is None:
        mine = [t.id for t in await queues.list_tasks(limit=500) if t.sender == ctx.sender]
        known = f"Your latest tasks: {', '.join(mine[-5:])}." if mine else "You enqueued none."
        raise ToolError(f"no task {task_id!r}. {known}")
    if task.sender != ctx.sender and _mode(ctx) != "any":
        raise ToolError(
            f"task {task.id} was enqueued by {task.sender}, not you: you may cancel only the "
            f"tasks you enqueued (your profile {ctx.profile!r} has orchestrate='own')"
        )
    if task.status.ended:
        return TaskCancelled(
            task_id=task.id,
            status=task.status.value,
            detail=f"it had already ended: {task.status.value}",
        )
    ended = await queues.cancel(task.id)
    return TaskCancelled(task_id=ended.id, status=ended.status.value, detail="cancelled")


async def aegis_group(
    ctx: ToolContext,
    targets: Annotated[
        list[str], Field(description="The handles of the sessions to ask, each once.")
    ],
    message: Annotated[str, Field(description=f"What to ask each of them; {_LIMIT}.")],
    wait: Annotated[
        Literal["all", "first"],
        Field(description="all: wait for every answer; first: return at the first answer."),
    ] = "all",
    max_concurrency: Annotated[
        int | None,
        Field(description="Ask at most this many at a time (default: all at once).", ge=1),
    ] = None,
    timeout: Annotated[
        float,
        Field(description=f"Seconds to wait in all (at most {MAX_GROUP_TIMEOUT_S:g}).", gt=0),
    ] = DEFAULT_GROUP_TIMEOUT_S,
) -> GroupResult:
    """Send one message to several sessions (your helpers, or any peers) and wait for their
    answers: each one's final message of the turn it starts, in the order of `targets`.

    With wait='first' you get the first answer; the others' turns are stopped. A target
    that has not answered when the timeout comes has its turn stopped too. You cannot be
    one of the targets, nor ask one that is waiting for your answer."""
    from aegis.session.group import GroupError, ask_group

    check_size("message", message)
    if not message.strip():
        raise ToolError("message is empty: say what the targets should do")
    if ctx.handle in targets:
        raise ToolError(
            f"you are {ctx.handle}: you cannot wait for your own answer; leave yourself out"
        )
    text = f"{GROUP_HEADER.format(handle=ctx.handle, profile=ctx.profile)}\n\n{message}"
    try:
        replies = await ask_group(
            ctx.sessions,
            targets,
            text,
            sender=ctx.sender,
            wait=wait,
            max_concurrency=max_concurrency,
            timeout=min(timeout, MAX_GROUP_TIMEOUT_S),
        )
    except GroupError as exc:
        raise ToolError(str(exc)) from None
    # Each answer is held to what a message may hold: the transcripts keep them whole.
    limit = max(1024, MAX_TEXT_BYTES // len(replies))
    summaries = [
        GroupReplySummary(
            target=r.handle,
            status=r.status,
            text=cap_text(r.text, f"the whole answer: {r.handle}'s transcript", limit)
            if r.text is not None
            else None,
            error=r.error,
        )
        for r in replies
    ]
    return GroupResult(replies=summaries, answered=sum(r.ok for r in replies))


ORCHESTRATION_TOOLS = (
    aegis_list_profiles,
    aegis_spawn,
    aegis_close,
    aegis_interrupt,
    aegis_cancel_task,
    aegis_group,
)


@hookimpl
def register_tools(register: Any) -> None:
    for tool in ORCHESTRATION_TOOLS:
        register(tool)
