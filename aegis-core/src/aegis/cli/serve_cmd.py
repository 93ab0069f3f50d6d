"""``aegis serve``: the project's daemon in the foreground, saying what it serves."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from aegis.cli._context import load_project

if TYPE_CHECKING:
    from aegis.daemon.service import Daemon


@click.command()
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    default=0,
    metavar="SECONDS",
    help="Exit after this many seconds with nothing to do (no live session, no queued or "
    "running task, no attached client). Default: 0, never.",
)
@click.pass_context
def serve(ctx: click.Context, idle_timeout: float) -> None:
    """Run the project's daemon in the foreground: queues drain, agents reach each other,
    and clients (`aegis ask`, `chat`, `attach`, the TUI) use it.

    For systemd, containers and CI. Tasks enqueued from anywhere (`aegis queue
    enqueue`, workflows, agents) run here, at most max_parallel per queue. A line
    is printed when a session ends. Runs until Ctrl+C, SIGTERM or SIGHUP, then
    stops gracefully: no new task starts, running ones get 10 seconds to finish and
    are then ended as interrupted by the shutdown, and every agent process is
    stopped (exit status 0). When a daemon already runs for the project (a client
    started it in the background), serve says so and exits with status 3.

    \b
    Examples:
      aegis serve
      aegis -c /srv/project serve
    """
    from aegis.cli.daemon_cmd import run_foreground

    project = load_project(ctx)

    async def serving(daemon: Daemon) -> None:
        from aegis.events import StateChanged

        queues = ", ".join(
            f"{q.name} ({q.agent_profile} x{q.max_parallel})" for q in project.queues.values()
        )
        click.echo(f"aegis serve: {project.root}", err=True)
        click.echo(f"  queues: {queues or 'none'}", err=True)
        click.echo(f"  socket: {daemon.socket_path}", err=True)
        click.echo("  Ctrl+C or SIGTERM stops", err=True)
        sessions = daemon.runtime.sessions
        with sessions.subscribe() as stream:
            async for handle, event in stream:
                if isinstance(event, StateChanged) and event.state in ("closed", "failed"):
                    click.echo(f"{handle} ({sessions.get(handle).profile}) {event.state}", err=True)

    ctx.exit(
        run_foreground(
            project,
            idle_timeout,
            serving=serving,
            taken_hint="`aegis daemon stop` stops it (its sessions end); then `aegis serve`",
        )
    )
