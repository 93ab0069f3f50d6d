"""``aegis chat``: a line-oriented conversation with one agent, without the TUI."""

from __future__ import annotations

import math

import anyio
import click

from aegis.cli._context import load_project, require_profile
from aegis.cli._render import ConsoleRenderer
from aegis.cli._runtime import run_command


@click.command()
@click.argument("profile", required=False)
@click.option("--resume", metavar="SESSION_ID", help="Resume this harness session id.")
@click.pass_context
def chat(ctx: click.Context, profile: str | None, resume: str | None) -> None:
    """Talk with a session of agent PROFILE (default: the default agent), line by line.

    Each line you type is a message; the reply streams back. Ctrl+C interrupts the
    agent's current turn, Ctrl+D leaves; on leaving, chat prints the command that
    comes back to the conversation (`aegis chat PROFILE --resume ID`). On a
    terminal, lines are edited with the usual keys and kept in a history per
    project (.aegis/chat_history; Up recalls them).

    Like the TUI, chat runs the project's substrate: the agent can call aegis's
    MCP tools (hand off work, enqueue tasks, run workflows), this process runs
    queued tasks, and messages other agents or queues send to this session are
    shown with their sender.
    """
    project = load_project(ctx)
    chosen = profile or project.default_agent
    require_profile(project, chosen)  # before the substrate starts for nothing
    state: dict[str, object] = {}

    async def interrupt() -> bool:
        bridge, handle = state.get("bridge"), state.get("handle")
        if bridge is None or not isinstance(handle, str):
            return False
        from aegis.session import SessionManager, SessionState

        assert isinstance(bridge, SessionManager)
        if bridge.get(handle).state is SessionState.busy:
            await bridge.interrupt(handle)
        else:
            click.secho("\n(Ctrl+D leaves)", dim=True, err=True)
        return True

    async def main() -> int:
        from aegis.cli._lines import line_source
        from aegis.errors import DriverError
        from aegis.events import TurnEnd
        from aegis.substrate import Substrate

        renderer = ConsoleRenderer()
        # The turn ends the renderer has shown, in order (nobody waits for most).
        show_end, shown_ends = anyio.create_memory_object_stream[TurnEnd](math.inf)
        async with (
            Substrate(project) as substrate,
            anyio.create_task_group() as tg,
            show_end,
            shown_ends,
        ):
            bridge = substrate.bridge
            # Subscribed to this session alone (not the queue workers this process may
            # run), before anything of it can stream: spawning without waiting returns
            # before the session's task has run.
            handle = await bridge.spawn(chosen, resume=resume, wait=False)
            with bridge.subscribe(handle) as stream:

                async def show() -> None:
                    async for _, event in stream:
                        renderer.show(event)
                        if isinstance(event, TurnEnd):
                            show_end.send_nowait(event)

                tg.start_soon(show)
                try:
                    await bridge.wait_ready(handle)
                except DriverError:
                    return 1
                state.update(bridge=bridge, handle=handle)
                info = bridge.get(handle)
                click.secho(
                    f"{handle}: {chosen} ({info.provider}"
                    f"{', ' + info.model if info.model else ''}); Ctrl+C interrupts, Ctrl+D leaves",
                    dim=True,
                    err=True,
                )
                lines = line_source(project.state_dir, renderer)
                while (line := await lines.read()) is not None:
                    if not line.strip():
                        continue
                    end = await bridge.request(handle, line, sender="user")
                    if bridge.get(handle).state.live is False:
                        click.secho(f"the session ended: {end.error}", fg="red", err=True)
                        return 1
                    # The prompt comes once the reply is on screen, its last newline too.
                    while await shown_ends.receive() != end:
                        pass  # the end of a turn a message from elsewhere started
                resume_id = bridge.get(handle).harness_session_id
                await bridge.close(handle)
                if resume_id:
                    click.secho(
                        f"to come back to this conversation: aegis chat {chosen} "
                        f"--resume {resume_id}",
                        dim=True,
                        err=True,
                    )
        return 0

    ctx.exit(run_command(main, on_sigint=interrupt))
