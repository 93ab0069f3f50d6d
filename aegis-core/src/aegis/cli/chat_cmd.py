"""``aegis chat``: a line-oriented conversation with one agent, without the TUI."""

from __future__ import annotations

import sys

import anyio
import click

from aegis.cli._context import load_project
from aegis.cli._render import ConsoleRenderer
from aegis.cli._runtime import run_command


@click.command()
@click.argument("profile", required=False)
@click.option("--resume", metavar="SESSION_ID", help="Resume this harness session id.")
@click.pass_context
def chat(ctx: click.Context, profile: str | None, resume: str | None) -> None:
    """Talk with a session of agent PROFILE (default: the default agent), line by line.

    Each line you type is a message; the reply streams back. Ctrl+C interrupts the
    agent's current turn, Ctrl+D leaves. Like the TUI, chat runs the project's
    substrate: the agent can call aegis's MCP tools (hand off work, enqueue tasks,
    run workflows), this process runs queued tasks, and messages other agents or
    queues send to this session are shown with their sender.
    """
    project = load_project(ctx)
    chosen = profile or project.default_agent
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
        from aegis.errors import DriverError
        from aegis.substrate import Substrate

        renderer = ConsoleRenderer()
        async with Substrate(project) as substrate, anyio.create_task_group() as tg:
            bridge = substrate.bridge
            # Subscribed to this session alone (not the queue workers this process may
            # run), before anything of it can stream: spawning without waiting returns
            # before the session's task has run.
            handle = await bridge.spawn(chosen, resume=resume, wait=False)
            with bridge.subscribe(handle) as stream:

                async def show() -> None:
                    async for _, event in stream:
                        renderer.show(event)

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
                while True:
                    if sys.stdin.isatty():
                        click.echo("> ", nl=False, err=True)
                    line = await anyio.to_thread.run_sync(
                        sys.stdin.readline, abandon_on_cancel=True
                    )
                    if not line:
                        break
                    if not line.strip():
                        continue
                    end = await bridge.request(handle, line.rstrip("\n"), sender="user")
                    if bridge.get(handle).state.live is False:
                        click.secho(f"the session ended: {end.error}", fg="red", err=True)
                        return 1
                await bridge.close(handle)
        return 0

    ctx.exit(run_command(main, on_sigint=interrupt))
