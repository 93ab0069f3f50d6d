"""``aegis attach HANDLE``: join a live session of the daemon, line by line (like chat)."""

from __future__ import annotations

import math

import anyio
import click

from aegis.cli._client import run_client
from aegis.cli._context import load_project
from aegis.cli._errors import CliError


@click.command()
@click.argument("handle")
@click.option("--replay", is_flag=True, help="Print the session's transcript so far first.")
@click.pass_context
def attach(ctx: click.Context, handle: str, replay: bool) -> None:
    """Attach to the live session HANDLE of the project's daemon.

    Its events are shown as they come, whoever caused them (another client, a
    queue, an agent); each line you type is sent to it as a message from `user`.
    Ctrl+C interrupts the agent's current turn; Ctrl+D detaches, and the session
    goes on in the daemon (`aegis ps` lists the sessions).
    """
    project = load_project(ctx)
    state: dict[str, object] = {}

    async def interrupt() -> bool:
        from aegis.daemon.client import DaemonClient

        client = state.get("client")
        if not isinstance(client, DaemonClient):
            return False
        if (await client.session(handle)).state == "busy":
            await client.interrupt(handle)
        else:
            click.secho("\n(Ctrl+D detaches)", dim=True, err=True)
        return True

    async def main() -> int:
        from aegis.cli._lines import line_source
        from aegis.cli._render import ConsoleRenderer
        from aegis.daemon.client import DaemonClient, DaemonNotRunning, Numbered, StreamEnd
        from aegis.events import TurnEnd

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
        renderer = ConsoleRenderer()
        ended: list[str] = []
        show_end, shown_ends = anyio.create_memory_object_stream[TurnEnd](math.inf)
        async with anyio.create_task_group() as tg, show_end, shown_ends:

            async def show() -> None:
                async for item in client.events(handle, 0 if replay else info.seq):
                    if isinstance(item, Numbered):
                        renderer.show(item.event)
                        if isinstance(item.event, TurnEnd):
                            show_end.send_nowait(item.event)
                    elif isinstance(item, StreamEnd):
                        ended.append(item.reason)
                ended.append(ended[0] if ended else "the daemon went away")
                tg.cancel_scope.cancel()

            tg.start_soon(show)
            state["client"] = client
            click.secho(
                f"attached to {handle} ({info.profile}, {info.provider}); "
                "Ctrl+C interrupts, Ctrl+D detaches",
                dim=True,
                err=True,
            )
            lines = line_source(project.state_dir, renderer)
            while (line := await lines.read()) is not None:
                if not line.strip():
                    continue
                await client.send(handle, line)
                await shown_ends.receive()  # the prompt comes back once a turn has ended
            tg.cancel_scope.cancel()
        if ended:
            click.secho(f"{handle}: {ended[0]}", dim=True, err=True)
            return 0
        click.secho(
            f"detached from {handle}; it goes on (aegis attach {handle})", dim=True, err=True
        )
        return 0

    ctx.exit(run_client(main, on_sigint=interrupt))
