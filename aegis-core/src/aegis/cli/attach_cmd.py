"""``aegis attach HANDLE``: join a live session of the daemon, line by line (like chat)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING

import click

from aegis.cli._client import run_client
from aegis.cli._context import load_project
from aegis.cli._conversation import interrupt_through
from aegis.cli._errors import CliError
from aegis.events import Event, PermissionRequest

if TYPE_CHECKING:
    from aegis.daemon.client import DaemonClient, StreamEnd


@click.command()
@click.argument("handle")
@click.option("--replay", is_flag=True, help="Print the session's transcript so far first.")
@click.pass_context
def attach(ctx: click.Context, handle: str, replay: bool) -> None:
    """Attach to the live session HANDLE of the project's daemon.

    Its events are shown as they come, whoever caused them (another client, a
    queue, an agent); each line you type is sent to it as a message from `user`.
    Ctrl+C interrupts the agent's current turn; Ctrl+D detaches, and the session
    goes on in the daemon (`aegis ps` lists the sessions). Permission requests
    of the session that wait for a person (those waiting already, and each new
    one) are asked about at once on a terminal.
    """
    project = load_project(ctx)
    state: dict[str, DaemonClient] = {}

    async def main() -> int:
        from aegis.cli._approvals import Approver
        from aegis.cli._conversation import converse, daemon_events
        from aegis.cli._render import ConsoleRenderer
        from aegis.daemon.client import DaemonClient, DaemonNotRunning

        client = DaemonClient(project.state_dir, name="cli:attach")
        try:
            info = await client.session(handle)
        except DaemonNotRunning:
            raise CliError(
                "no aegis daemon runs for this project: no live session to attach to",
                hint=f"`aegis logs {handle}` prints a transcript",
            ) from None
        if not info.live:
            raise CliError(
                f"session {handle!r} is {info.state}", hint=f"`aegis logs {handle}` prints it"
            )
        state["client"] = client
        click.secho(
            f"attached to {handle} ({info.profile}, {info.provider}); "
            "Ctrl+C interrupts, Ctrl+D detaches",
            dim=True,
            err=True,
        )
        approver = Approver(client.answer_approval)
        renderer = ConsoleRenderer()
        ended = await converse(
            _with_waiting(client, handle, daemon_events(client, handle, 0 if replay else info.seq)),
            lambda line: client.send(handle, line),
            state_dir=project.state_dir,
            renderer=renderer,
            leave="detaches",
            approver=approver,
        )
        if ended:
            click.secho(f"{handle}: {ended}", dim=True, err=True)
            return 0
        click.secho(
            f"detached from {handle}; it goes on (aegis attach {handle})", dim=True, err=True
        )
        return 0

    interrupt = interrupt_through(lambda: state.get("client"), lambda: handle, "detaches")
    ctx.exit(run_client(main, on_sigint=interrupt))


async def _with_waiting(
    client: DaemonClient, handle: str, events: AsyncGenerator[Event | StreamEnd, None]
) -> AsyncGenerator[Event | StreamEnd, None]:
    """The permission requests of ``handle`` waiting already, then ``events`` (a request
    seen twice is asked about once: its answer settles it)."""
    from aegis.events import from_dict

    seen: set[str] = set()
    for waiting in await client.approvals(handle):
        request = from_dict(waiting["request"])
        seen.add(waiting["id"])
        yield request
    async with aclosing(events):
        async for event in events:
            if isinstance(event, PermissionRequest) and event.id in seen:
                continue
            yield event
