"""``aegis serve``: the runtime, headless, until stopped."""

from __future__ import annotations

import anyio
import click

from aegis.cli._context import load_project
from aegis.cli._runtime import STOP_SIGNALS, run_command


@click.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run aegis headless: queues drain and agents can reach each other.

    Tasks enqueued from anywhere (`aegis queue enqueue`, workflows, agents) run
    here, at most max_parallel per queue. Runs until Ctrl+C, SIGTERM or SIGHUP,
    then stops gracefully: no new task starts, running ones get 10 seconds to
    finish and are then ended as interrupted by the shutdown, and every agent
    process is stopped.
    """
    project = load_project(ctx)

    async def main() -> int:
        from aegis.events import StateChanged
        from aegis.runtime import Runtime

        async with Runtime(project) as runtime:
            queues = ", ".join(
                f"{q.name} ({q.agent_profile} x{q.max_parallel})" for q in project.queues.values()
            )
            click.echo(f"aegis serve: {project.root}", err=True)
            click.echo(f"  queues: {queues or 'none'}", err=True)
            click.echo("  Ctrl+C or SIGTERM stops", err=True)
            with runtime.sessions.subscribe() as stream:
                async for handle, event in stream:
                    if isinstance(event, StateChanged) and event.state in ("closed", "failed"):
                        info = runtime.sessions.get(handle)
                        click.echo(f"{handle} ({info.profile}) {event.state}", err=True)
            await anyio.sleep_forever()
        return 0

    status = run_command(main)
    ctx.exit(0 if status in STOP_SIGNALS.values() else status)
