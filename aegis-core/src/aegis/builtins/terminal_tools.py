"""MCP tools for shared terminals and canvases: a built-in plugin, like ``mcp_tools``.

Every command and every section written is recorded as the caller's, whose handle
comes from the caller's token (:class:`~aegis.mcp.ToolContext`), never from an
argument. Wake-ups (a command ended, a section changed) go to subscribers other
than the one who made the change, through the inbox.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from pydantic import BaseModel, Field

from aegis.hookspecs import hookimpl
from aegis.mcp.context import MAX_TEXT_BYTES, ToolContext, ToolError, check_size

MAX_RUN_TIMEOUT_S = 3600.0
KEYS_SETTLE_S = 0.3
"""After keys, how long (at most) to wait for the terminal to answer before showing it."""


class TerminalSummary(BaseModel):
    """One shared terminal."""

    name: str
    shell: str
    alive: bool = Field(description="Whether its shell still runs.")
    busy: bool = Field(description="Whether a command runs in it now.")
    running: str | None = Field(description="The command running now.")
    integrated: bool = Field(description="Whether exit statuses are known (bash, zsh).")
    cwd: str
    created_by: str
    last_seq: int = Field(description="The seq of its latest command (0: none yet).")
    subscribers: list[str]


class TerminalList(BaseModel):
    """The shared terminals of this project's runtime."""

    terminals: list[TerminalSummary]


class CommandResult(BaseModel):
    """A command run with aegis_term_run."""

    seq: int = Field(description="Its number in the terminal's ledger.")
    command: str
    status: Literal["done", "timeout", "exited"] = Field(
        description="done: it ended; timeout: it still runs (see aegis_term_read, stop it "
        "with aegis_term_keys ctrl+c); exited: the shell ended."
    )
    exit: int | None = Field(description="Its exit status (null: unknown or not ended).")
    output: str = Field(description="Its output; the head and tail when it was long.")
    duration: float = Field(description="Seconds.")


class CommandEntry(BaseModel):
    """A command of a terminal's ledger."""

    seq: int
    command: str
    by: str = Field(description="Who ran it: an agent's handle, user, workflow:<run>.")
    status: str = Field(description="running, done, interrupted or exited.")
    exit: int | None
    started_at: float
    ended_at: float | None
    output: str


class TerminalScreen(BaseModel):
    """What a terminal shows."""

    name: str
    lines: list[str] = Field(description="Its last lines of output.")
    busy: bool
    last_seq: int
    commands: list[CommandEntry] = Field(description="The commands after `since`, when asked.")


class Done(BaseModel):
    """An action done."""

    detail: str


class CanvasSummary(BaseModel):
    """One shared canvas."""

    name: str
    path: str = Field(description="Its Markdown file.")
    sections: list[str] = Field(description="Its `## ` section titles, in order.")
    subscribers: list[str]


class CanvasList(BaseModel):
    """The shared canvases of this project."""

    canvases: list[CanvasSummary]


class CanvasText(BaseModel):
    """A canvas, or one section of it, as it is on disk now."""

    name: str
    section: str | None
    text: str


class CanvasWritten(BaseModel):
    """A change made to a canvas."""

    name: str
    section: str
    added: int = Field(description="Lines added.")
    removed: int = Field(description="Lines removed.")


# --- helpers --------------------------------------------------------------------------------


def _terminals(ctx: ToolContext) -> Any:
    if ctx.terminals is None:
        raise ToolError("terminals are not available here")
    return ctx.terminals


def _canvases(ctx: ToolContext) -> Any:
    if ctx.canvases is None:
        raise ToolError("canvases are not available here")
    return ctx.canvases


def _terminal(ctx: ToolContext, name: str) -> Any:
    from aegis.terminals import UnknownTerminal

    try:
        return _terminals(ctx).get(name)
    except UnknownTerminal as exc:
        raise ToolError(str(exc)) from None


def _summary(info: Any) -> TerminalSummary:
    return TerminalSummary(
        name=info.name,
        shell=info.shell,
        alive=info.alive,
        busy=info.busy,
        running=info.running,
        integrated=info.integrated,
        cwd=info.cwd,
        created_by=info.created_by,
        last_seq=info.last_seq,
        subscribers=info.subscribers,
    )


# --- terminals --------------------------------------------------------------------------------


async def aegis_term_spawn(
    ctx: ToolContext,
    name: Annotated[str, Field(description="Its name: letters, digits, '.', '_', '-'.")],
    shell: Annotated[
        str | None, Field(description="The shell (default: the user's, else bash).")
    ] = None,
) -> TerminalSummary:
    """Open a shared terminal: a shell in a real pseudo-terminal, in the project's folder,
    that every agent and the user can run commands in and read (a dev server, a long
    test run). It stays open until someone closes it."""
    from aegis.terminals import TerminalError
    from aegis.terminals.registry import info

    try:
        terminal = await _terminals(ctx).spawn(name, by=ctx.handle, shell=shell)
    except TerminalError as exc:
        raise ToolError(str(exc)) from None
    return _summary(info(terminal))


async def aegis_term_list(ctx: ToolContext) -> TerminalList:
    """The shared terminals: name, whether a command runs (and which), who opened them."""
    return TerminalList(terminals=[_summary(i) for i in _terminals(ctx).list()])


async def aegis_term_run(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The terminal (see aegis_term_list).")],
    command: Annotated[str, Field(description="One command line (chain with && or ;).")],
    timeout: Annotated[
        float, Field(description="Seconds to wait for it to end; it goes on running after.")
    ] = 60.0,
) -> CommandResult:
    """Run a command in a shared terminal, as you, and wait for it: its exit status and
    output (the first and last 16 KiB when it is long). On timeout it keeps running:
    follow it with aegis_term_read, stop it with aegis_term_keys press=['ctrl+c']."""
    from aegis.terminals import TerminalError

    check_size("command", command)
    terminal = _terminal(ctx, name)
    try:
        result = await terminal.run(
            command, by=ctx.handle, timeout=max(0.1, min(timeout, MAX_RUN_TIMEOUT_S))
        )
    except TerminalError as exc:
        raise ToolError(str(exc)) from None
    return CommandResult(
        seq=result.seq,
        command=result.command,
        status=result.status,
        exit=result.exit,
        output=result.output,
        duration=round(result.duration, 3),
    )


async def aegis_term_keys(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The terminal.")],
    text: Annotated[str, Field(description="Text to type first, as is.")] = "",
    press: Annotated[
        list[str] | None,
        Field(
            description="Keys to press after it, in order: enter, tab, esc, backspace, up, "
            "down, left, right, ctrl+c, ctrl+d, ctrl+z, ..."
        ),
    ] = None,
) -> TerminalScreen:
    """Type into a shared terminal as you: answer a prompt (text='y', press=['enter']),
    interrupt what runs (press=['ctrl+c']). Returns the terminal's last lines."""
    from aegis.terminals import TerminalError

    check_size("text", text)
    terminal = _terminal(ctx, name)
    try:
        await terminal.keys(text, list(press or []), by=ctx.handle)
    except TerminalError as exc:
        raise ToolError(str(exc)) from None
    # Let the terminal answer (an interrupted command ends, a prompt echoes).
    await anyio.sleep(KEYS_SETTLE_S)
    return TerminalScreen(
        name=name,
        lines=terminal.lines(20),
        busy=terminal.busy,
        last_seq=terminal.last_seq,
        commands=[],
    )


async def aegis_term_read(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The terminal.")],
    lines: Annotated[int, Field(description="How many of its last lines to show.")] = 40,
    since: Annotated[
        int | None,
        Field(
            description="Also list the commands after this seq, with who ran them, "
            "their status and output (0: all)."
        ),
    ] = None,
) -> TerminalScreen:
    """What a shared terminal shows: its last lines and, with `since`, the commands run
    after that seq (by anyone) with their exit status and output."""
    terminal = _terminal(ctx, name)
    commands: list[CommandEntry] = []
    if since is not None:
        for record in await terminal.commands(since):
            commands.append(
                CommandEntry(
                    seq=record.seq,
                    command=record.command,
                    by=record.by,
                    status=record.status,
                    exit=record.exit,
                    started_at=record.started_at,
                    ended_at=record.ended_at,
                    output=record.output,
                )
            )
        # Newest kept when they would not fit in one answer.
        while commands and sum(len(c.output) for c in commands) > MAX_TEXT_BYTES:
            commands.pop(0)
    return TerminalScreen(
        name=name,
        lines=terminal.lines(max(0, min(lines, 2000))),
        busy=terminal.busy,
        last_seq=terminal.last_seq,
        commands=commands,
    )


async def aegis_term_subscribe(
    ctx: ToolContext, name: Annotated[str, Field(description="The terminal.")]
) -> Done:
    """Get a message in your inbox each time a command someone else ran in this terminal
    ends, with its exit status and last lines."""
    _terminal(ctx, name).subscribers.add(ctx.handle)
    return Done(detail=f"subscribed: commands others run in {name} reach you when they end")


async def aegis_term_unsubscribe(
    ctx: ToolContext, name: Annotated[str, Field(description="The terminal.")]
) -> Done:
    """Stop the messages of aegis_term_subscribe."""
    terminal = _terminal(ctx, name)
    was = ctx.handle in terminal.subscribers
    terminal.subscribers.discard(ctx.handle)
    return Done(detail="unsubscribed" if was else f"you were not subscribed to {name}")


async def aegis_term_close(
    ctx: ToolContext, name: Annotated[str, Field(description="The terminal.")]
) -> Done:
    """Close a shared terminal: its shell and whatever runs in it are stopped (its ledger
    of commands is kept)."""
    _terminal(ctx, name)
    await _terminals(ctx).close(name)
    return Done(detail=f"terminal {name} closed")


# --- canvases --------------------------------------------------------------------------------


async def _canvas_call(coroutine: Any) -> Any:
    from aegis.canvas import CanvasError

    try:
        return await coroutine
    except CanvasError as exc:
        raise ToolError(str(exc)) from None


def _canvas_summary(info: Any) -> CanvasSummary:
    return CanvasSummary(
        name=info.name, path=info.path, sections=info.sections, subscribers=info.subscribers
    )


async def aegis_canvas_open(
    ctx: ToolContext,
    name: Annotated[str, Field(description="Its name: letters, digits, '.', '_', '-'.")],
    path: Annotated[
        str | None,
        Field(description="Its Markdown file in the project (default .aegis/canvases/<name>.md)."),
    ] = None,
) -> CanvasSummary:
    """Open a shared canvas: a Markdown document that agents and the user write section by
    section (`## ` headings): a plan, a spec, a list of findings. Created if missing."""
    info = await _canvas_call(_canvases(ctx).open(name, by=ctx.handle, path=path))
    return _canvas_summary(info)


async def aegis_canvas_list(ctx: ToolContext) -> CanvasList:
    """The shared canvases, with their sections."""
    infos = await _canvases(ctx).list()
    return CanvasList(canvases=[_canvas_summary(i) for i in infos])


async def aegis_canvas_read(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The canvas.")],
    section: Annotated[
        str | None,
        Field(
            description='One section\'s title ("": the text before the first heading); '
            "omit for the whole canvas."
        ),
    ] = None,
) -> CanvasText:
    """A canvas as it is now (the user's edits included), or one section of it."""
    text = await _canvas_call(_canvases(ctx).read(name, section))
    return CanvasText(name=name, section=section, text=text)


async def aegis_canvas_write(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The canvas.")],
    section: Annotated[str, Field(description="The section's title (added when missing).")],
    text: Annotated[str, Field(description="Its new body (without the heading).")],
) -> CanvasWritten:
    """Replace one section of a canvas, as you; the rest is left as it is. Subscribers
    are told."""
    check_size("text", text)
    change = await _canvas_call(_canvases(ctx).write(name, section, text, by=ctx.handle))
    return CanvasWritten(
        name=name, section=change.section, added=change.added, removed=change.removed
    )


async def aegis_canvas_append(
    ctx: ToolContext,
    name: Annotated[str, Field(description="The canvas.")],
    section: Annotated[str, Field(description="The section's title (added when missing).")],
    text: Annotated[str, Field(description="What to add at its end.")],
) -> CanvasWritten:
    """Add to the end of one section of a canvas, as you (a finding, a note). Subscribers
    are told."""
    check_size("text", text)
    change = await _canvas_call(_canvases(ctx).append(name, section, text, by=ctx.handle))
    return CanvasWritten(
        name=name, section=change.section, added=change.added, removed=change.removed
    )


async def aegis_canvas_subscribe(
    ctx: ToolContext, name: Annotated[str, Field(description="The canvas.")]
) -> Done:
    """Get a message in your inbox, with a preview, each time someone else changes the canvas."""
    await _canvas_call(_canvases(ctx).subscribe(name, ctx.handle))
    return Done(detail=f"subscribed: changes others make to {name} reach you")


async def aegis_canvas_unsubscribe(
    ctx: ToolContext, name: Annotated[str, Field(description="The canvas.")]
) -> Done:
    """Stop the messages of aegis_canvas_subscribe."""
    was = await _canvas_call(_canvases(ctx).unsubscribe(name, ctx.handle))
    return Done(detail="unsubscribed" if was else f"you were not subscribed to {name}")


TERMINAL_TOOLS = (
    aegis_term_spawn,
    aegis_term_list,
    aegis_term_run,
    aegis_term_keys,
    aegis_term_read,
    aegis_term_subscribe,
    aegis_term_unsubscribe,
    aegis_term_close,
)
CANVAS_TOOLS = (
    aegis_canvas_open,
    aegis_canvas_list,
    aegis_canvas_read,
    aegis_canvas_write,
    aegis_canvas_append,
    aegis_canvas_subscribe,
    aegis_canvas_unsubscribe,
)


@hookimpl
def register_tools(register: Any) -> None:
    for tool in (*TERMINAL_TOOLS, *CANVAS_TOOLS):
        register(tool)
