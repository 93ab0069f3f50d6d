"""``aegis daemon``: the project's daemon — start, run, status, stop, restart, logs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import click

from aegis.cli._client import run_client, say_if_crashed
from aegis.cli._context import load_project, print_json
from aegis.cli._errors import CliError, show_error
from aegis.cli._runtime import STOP_SIGNALS, run_command
from aegis.daemon.protocol import idle_timeout_from_env

if TYPE_CHECKING:
    from aegis.config.loader import Project
    from aegis.daemon.client import DaemonClient
    from aegis.daemon.service import Daemon

IDLE_HELP = (
    "Exit after this many seconds with no live session, no queued or running task and "
    "no attached client (0: never). Default: $AEGIS_DAEMON_IDLE_TIMEOUT, else 600."
)


def _idle_option(function: Any) -> Any:
    return click.option(
        "--idle-timeout",
        type=click.FloatRange(min=0),
        default=None,
        metavar="SECONDS",
        help=IDLE_HELP,
    )(function)


@click.group()
def daemon() -> None:
    """The project's daemon: one long-lived process that runs its agents.

    The daemon owns the project's sessions, queues, inbox and MCP plane and serves
    clients on .aegis/daemon.sock; agents it runs outlive the command that started
    them. Commands that need it start it in the background; an idle daemon exits
    by itself (see --idle-timeout).
    """


@daemon.command()
@_idle_option
@click.pass_context
def run(ctx: click.Context, idle_timeout: float | None) -> None:
    """Run the daemon in the foreground (for systemd, containers, CI); Ctrl+C stops it.

    `aegis serve` does the same, and says what it serves.
    """
    project = load_project(ctx)
    if idle_timeout is None:
        try:
            idle_timeout = idle_timeout_from_env()
        except ValueError as exc:
            raise CliError(str(exc)) from None
    ctx.exit(run_foreground(project, idle_timeout))


def run_foreground(
    project: Project,
    idle_timeout: float,
    *,
    serving: Callable[[Daemon], Awaitable[None]] | None = None,
    taken_hint: str | None = None,
) -> int:
    """Run the project's daemon in this process until a signal stops it (exit status 0),
    logging to stderr; :data:`~aegis.daemon.launch.EXIT_ALREADY_RUNNING` when another
    daemon holds the project's lock.

    ``serving`` runs beside the daemon once it answers (``aegis serve`` says what it
    serves); ``taken_hint`` is the hint shown when another daemon runs.
    """
    import logging
    import sys

    from aegis.daemon.launch import EXIT_ALREADY_RUNNING

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    async def main() -> int:
        from aegis.daemon.lock import AlreadyRunning
        from aegis.daemon.service import Daemon

        daemon = Daemon(project, idle_timeout=idle_timeout)
        taken: AlreadyRunning | None = None
        async with anyio.create_task_group() as tg:
            if serving is not None:

                async def announce() -> None:
                    await daemon.serving.wait()
                    await serving(daemon)

                tg.start_soon(announce)
            try:
                await daemon.run()
            except AlreadyRunning as exc:
                taken = exc
            tg.cancel_scope.cancel()
        if taken is not None:
            if taken_hint is None:
                click.echo(f"aegis daemon: {taken}", err=True)
            else:
                show_error(str(taken), taken_hint)
            return EXIT_ALREADY_RUNNING
        return 0

    status = run_command(main)
    return 0 if status in STOP_SIGNALS.values() else status


@daemon.command()
@_idle_option
@click.pass_context
def start(ctx: click.Context, idle_timeout: float | None) -> None:
    """Start the daemon in the background (nothing to do when it runs)."""
    project = load_project(ctx)

    async def main() -> int:
        from aegis.daemon.client import DaemonClient, DaemonNotRunning
        from aegis.daemon.launch import connect

        try:
            status = await DaemonClient(project.state_dir, name="cli:start").status()
            click.echo(f"the aegis daemon already runs (pid {status['pid']})")
            return 0
        except DaemonNotRunning:
            pass
        client = await connect(
            project.path, project.state_dir, name="cli:start", idle_timeout=idle_timeout
        )
        await _announce_started(client)
        return 0

    ctx.exit(run_client(main))


async def _announce_started(client: DaemonClient) -> None:
    """Say that the daemon started, once it is ready (or the start timeout has passed)."""
    from aegis.daemon.launch import wait_ready

    pid = (client.started or await client.status())["pid"]
    ready = await wait_ready(client)
    click.echo(f"aegis daemon started (pid {pid})")
    if not ready:
        click.secho(
            "  it has not finished starting (its MCP plane): `aegis daemon status` shows "
            "whether it runs, `aegis daemon logs` what it does",
            fg="yellow",
            err=True,
        )
    say_if_crashed(client)


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@daemon.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Whether the daemon runs: its pid, uptime, version, sessions, tasks and clients.

    Exits with status 1 when no daemon runs.
    """
    project = load_project(ctx)

    async def main() -> int:
        from aegis import __version__
        from aegis.daemon.client import DaemonClient, DaemonNotRunning

        client = DaemonClient(project.state_dir, name="cli:status", check_version=False)
        try:
            info = await client.status()
        except DaemonNotRunning:
            if as_json:
                print_json({"running": False})
            else:
                click.echo("no aegis daemon runs for this project")
            return 1
        if as_json:
            print_json({"running": True, **info})
            return 0
        starting = "" if info.get("ready", True) else " (starting: its MCP plane is loading)"
        click.echo(f"aegis daemon: pid {info['pid']}, up {_age(info['uptime_s'])}{starting}")
        click.echo(f"  version:  aegis {info['aegis_version']}, protocol {info['protocol']}")
        if info["aegis_version"] != __version__:
            click.secho(
                f"  (this aegis is {__version__}: `aegis daemon restart` to use it)", fg="yellow"
            )
        click.echo(f"  project:  {info['project']}")
        sessions = info["sessions"]
        click.echo(f"  sessions: {sessions['live']} live ({sessions['total']} in all)")
        tasks = info["tasks"]
        click.echo(f"  tasks:    {tasks['queued']} queued, {tasks['running']} running")
        clients = info["clients"]
        click.echo(f"  clients:  {len(clients)} attached")
        now = time.time()
        for item in clients:
            click.echo(f"    {item['name']} on {item['handle']} ({_age(now - item['since'])})")
        idle = info["idle_timeout_s"]
        click.echo(f"  idle exit: {f'after {idle:g} s idle' if idle else 'never'}")
        if info.get("previous_crash"):
            from aegis.daemon.crashes import notice

            click.secho(f"  started after a crash: {notice(info['previous_crash'])}", fg="yellow")
        return 0

    ctx.exit(run_client(main))


@daemon.command()
@click.pass_context
def stop(ctx: click.Context) -> None:
    """Stop the daemon: its sessions are closed and its agents stopped."""
    project = load_project(ctx)

    async def main() -> int:
        from aegis.daemon.launch import stop as stop_daemon

        pid = await stop_daemon(project.state_dir)
        click.echo(
            "no aegis daemon runs for this project" if pid is None else f"stopped (pid {pid})"
        )
        return 0

    ctx.exit(run_client(main))


@daemon.command()
@_idle_option
@click.pass_context
def restart(ctx: click.Context, idle_timeout: float | None) -> None:
    """Stop the daemon (if it runs) and start a new one, e.g. after upgrading aegis."""
    project = load_project(ctx)

    async def main() -> int:
        from aegis.daemon.launch import connect
        from aegis.daemon.launch import stop as stop_daemon

        pid = await stop_daemon(project.state_dir)
        if pid is not None:
            click.echo(f"stopped (pid {pid})")
        client = await connect(
            project.path, project.state_dir, name="cli:restart", idle_timeout=idle_timeout
        )
        await _announce_started(client)
        return 0

    ctx.exit(run_client(main))


@daemon.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing what the daemon logs.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="How many of the last lines to print first.",
)
@click.pass_context
def logs(ctx: click.Context, follow: bool, lines: int) -> None:
    """Print the daemon's log (.aegis/daemon.log)."""
    from aegis.daemon.protocol import log_path

    project = load_project(ctx)
    path = log_path(project.state_dir)
    if not path.exists():
        raise CliError(f"no daemon log yet ({path})", hint="`aegis daemon start` starts one")
    with path.open("r", errors="replace") as file:
        tail = file.readlines()[-lines:] if lines else []
        click.echo("".join(tail), nl=False)
        if not follow:
            return
        try:
            while True:
                line = file.readline()
                if line:
                    click.echo(line, nl=False)
                else:
                    time.sleep(0.2)
        except KeyboardInterrupt:
            return
