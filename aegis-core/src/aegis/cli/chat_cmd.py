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

    Like the TUI, chat runs the project's runtime: the agent can call aegis's
    MCP tools (hand off work, enqueue tasks, run workflows), this process runs
    queued tasks, and messages other agents or queues send to this session are
    shown with their sender.
    """
    project = load_project(ctx)
    chosen = profile or project.default_agent
    require_profile(project, chosen)  # before the runtime starts for nothing
    state: dict[str, object] = {}

    async def interrupt() -> bool:
        sessions, handle = state.get("sessions"), state.get("handle")
        if sessions is None or not isinstance(handle, str):
            return False
        from aegis.session import SessionManager, SessionState

        assert isinstance(sessions, SessionManager)
        if sessions.get(handle).state is SessionState.busy:
            await sessions.interrupt(handle)
        else:
            click.secho("\n(Ctrl+D leaves)", dim=True, err=True)
        return True

    async def main() -> int:
        from aegis.cli._lines import line_source
        from aegis.errors import DriverError
        from aegis.events import TurnEnd
        from aegis.runtime import Runtime

        renderer = ConsoleRenderer()
        # The turn ends the renderer has shown, in order (nobody waits for most).
        show_end, shown_ends = anyio.create_memory_object_stream[TurnEnd](math.inf)
        async with (
            Runtime(project) as runtime,
            anyio.create_task_group() as tg,
            show_end,
            shown_ends,
        ):
            sessions = runtime.sessions
            # Subscribed to this session alone (not the queue workers this process may
            # run), before anything of it can stream: spawning without waiting returns
            # before the session's task has run.
            handle = await sessions.spawn(chosen, resume=resume, wait=False)
            with sessions.subscribe(handle) as stream:

                async def show() -> None:
                    async for _, event in stream:
                        renderer.show(event)
                        if isinstance(event, TurnEnd):
                            show_end.send_nowait(event)

                tg.start_soon(show)
                try:
                    await sessions.wait_ready(handle)
                except DriverError:
                    return 1
                state.update(sessions=sessions, handle=handle)
                info = sessions.get(handle)
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
                    end = await sessions.request(handle, line, sender="user")
                    if sessions.get(handle).state.live is False:
                        click.secho(f"the session ended: {end.error}", fg="red", err=True)
                        return 1
                    # The prompt comes once the reply is on screen, its last newline too.
                    while await shown_ends.receive() != end:
                        pass  # the end of a turn a message from elsewhere started
                resume_id = sessions.get(handle).harness_session_id
                await sessions.close(handle)
                if resume_id:
                    click.secho(
                        f"to come back to this conversation: aegis chat {chosen} "
                        f"--resume {resume_id}",
                        dim=True,
                        err=True,
                    )
        return 0

    ctx.exit(run_command(main, on_sigint=interrupt))
