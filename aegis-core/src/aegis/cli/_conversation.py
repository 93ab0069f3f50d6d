"""The line loop of ``aegis chat`` and ``aegis attach``: one session, line by line.

A session's events are shown as they come, whoever caused them; each line read is
sent to the session as a message from ``user``, and the next prompt comes once the
turn that line started has ended (its reply, last newline included, is on screen).
The loop does not care where the session runs: chat through the daemon and attach
give it the daemon's event stream, ``aegis --no-daemon chat`` its own runtime's.

A permission request of the session (``docs/approvals.md``) is asked about at once, on
a terminal (:class:`~aegis.cli._approvals.Approver`): during a turn, and between turns
too (the line being typed is then set aside).
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import click

from aegis.cli._render import ConsoleRenderer
from aegis.events import (
    Event,
    PermissionAnswer,
    PermissionRequest,
    StateChanged,
    TurnEnd,
    UserMessage,
)

if TYPE_CHECKING:
    from aegis.cli._approvals import Approver
    from aegis.daemon.client import DaemonClient, StreamEnd

ENDED_STATES = ("closed", "failed")

A = TypeVar("A")
B = TypeVar("B")


async def converse(
    events: AsyncGenerator[Event | StreamEnd, None],
    send: Callable[[str], Awaitable[None]],
    *,
    state_dir: Path,
    renderer: ConsoleRenderer,
    leave: str = "leaves",
    approver: Approver | None = None,
) -> str | None:
    """Show ``events`` and send each line read until the input ends (Ctrl+D).

    ``events`` are one session's, in order; a :class:`~aegis.daemon.client.StreamEnd`
    among them ends them. Returns ``None`` when the input ended, else why the
    session's events ended first (``session closed``, ``daemon stopping``, ...).
    ``leave`` is the word for what Ctrl+D does (``leaves``, ``detaches``).
    ``approver`` asks the person about the session's permission requests.
    """
    from aegis.cli._lines import line_source
    from aegis.daemon.client import StreamEnd

    ended: list[str] = []
    # What the loop waits for after sending a line: a message from `user` starting a
    # turn (the one sent, or one sent just before it by another client), then a turn's end.
    marks_in, marks_out = anyio.create_memory_object_stream[str](math.inf)
    asks_in, asks_out = anyio.create_memory_object_stream[PermissionRequest](math.inf)
    async with anyio.create_task_group() as tg, marks_in, marks_out, asks_in, asks_out:

        async def show() -> None:
            async with aclosing(events):
                async for event in events:
                    if isinstance(event, StreamEnd):
                        ended.append(event.reason)
                        break
                    renderer.show(event)
                    if isinstance(event, PermissionRequest) and approver is not None:
                        if approver.prompting:  # else reading a line is never set aside
                            asks_in.send_nowait(event)
                        else:
                            approver.say_how(event)
                    elif isinstance(event, PermissionAnswer) and approver is not None:
                        approver.settle(event)
                    elif isinstance(event, UserMessage) and event.sender == "user":
                        marks_in.send_nowait("message")
                    elif isinstance(event, TurnEnd):
                        marks_in.send_nowait("end")
                    elif isinstance(event, StateChanged) and event.state in ENDED_STATES:
                        ended.append(f"session {event.state}")
                        break
            if not ended:
                ended.append("the daemon went away")
            tg.cancel_scope.cancel()

        tg.start_soon(show)
        lines = line_source(state_dir, renderer, leave=leave)

        async def handle(request: PermissionRequest) -> None:
            if approver is not None:
                await approver.handle(request)

        async def mark() -> str:
            """The next mark; the permission requests that come meanwhile are asked about."""
            while True:
                got = await _first(marks_out.receive, asks_out.receive)
                for request in got[1]:
                    await handle(request)
                if got[0]:
                    return got[0][0]

        while True:
            read, requests = await _first(lines.read, asks_out.receive)
            for request in requests:
                await handle(request)
            if not read:
                continue  # a request came first: the line is asked for again
            if read[0] is None:
                break
            line = read[0]
            if not line.strip():
                continue
            while True:  # what came before this line is not its turn
                try:
                    marks_out.receive_nowait()
                except anyio.WouldBlock:
                    break
            await send(line)
            while await mark() != "message":
                pass
            while await mark() != "end":
                pass
        tg.cancel_scope.cancel()
    return ended[0] if ended else None


async def _first(
    a: Callable[[], Awaitable[A]], b: Callable[[], Awaitable[B]]
) -> tuple[list[A], list[B]]:
    """Run ``a()`` and ``b()`` until one returns, cancelling the other; what each returned
    (both may have, when they finish together: nothing received is dropped)."""
    got_a: list[A] = []
    got_b: list[B] = []
    async with anyio.create_task_group() as tg:

        async def run_a() -> None:
            got_a.append(await a())
            tg.cancel_scope.cancel()

        async def run_b() -> None:
            got_b.append(await b())
            tg.cancel_scope.cancel()

        tg.start_soon(run_a)
        tg.start_soon(run_b)
    return got_a, got_b


async def daemon_events(
    client: DaemonClient, handle: str, after: int
) -> AsyncGenerator[Event | StreamEnd, None]:
    """The events of ``handle`` numbered above ``after``, from the daemon, then its
    :class:`~aegis.daemon.client.StreamEnd`."""
    from aegis.daemon.client import Numbered

    async with aclosing(client.events(handle, after)) as items:
        async for item in items:
            yield item.event if isinstance(item, Numbered) else item


async def local_events(
    stream: AsyncIterator[tuple[str, Event]],
) -> AsyncGenerator[Event | StreamEnd, None]:
    """The events of a subscription of this process's session manager to one session."""
    async for _, event in stream:
        yield event


def interrupt_through(
    client_of: Callable[[], DaemonClient | None], handle_of: Callable[[], str | None], leave: str
) -> Callable[[], Awaitable[bool]]:
    """Ctrl+C for a session of the daemon: interrupt its turn when it runs one, else say
    how to leave. Not taken (``False``) before the session is known."""

    async def interrupt() -> bool:
        client, handle = client_of(), handle_of()
        if client is None or handle is None:
            return False
        if (await client.session(handle)).state == "busy":
            await client.interrupt(handle)
        else:
            click.secho(f"\n(Ctrl+D {leave})", dim=True, err=True)
        return True

    return interrupt
