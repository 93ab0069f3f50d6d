"""``aegis term``: the project's shared terminals, in the daemon (list, run, attach, close)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import TYPE_CHECKING

import anyio
import click

from aegis.cli._client import daemon_wanted, project_daemon, run_client
from aegis.cli._context import load_project, print_json, print_table
from aegis.cli._errors import CliError

if TYPE_CHECKING:
    from aegis.daemon.client import DaemonClient

DETACH = b"\x1d"
"""Ctrl+]: leaves ``aegis term attach`` (the terminal goes on in the daemon)."""


def _need_daemon(ctx: click.Context) -> None:
    if not daemon_wanted(ctx):
        raise CliError(
            "shared terminals live in the project's daemon",
            hint="run this command without --no-daemon (or AEGIS_NO_DAEMON)",
        )


async def _ensure(client: DaemonClient, name: str, shell: str | None) -> bool:
    """Open terminal ``name`` unless it is open; whether it was opened now."""
    if any(t["name"] == name for t in await client.terminals()):
        return False
    await client.spawn_terminal(name, shell=shell)
    return True


@click.group()
def term() -> None:
    """The project's shared terminals: shells that agents and people use together.

    A terminal lives in the project's daemon until it is closed; every command run
    in it is recorded (who, exit status, output) in .aegis/terminals/NAME.jsonl.
    Agents reach the same terminals with their aegis_term_* tools.

    \b
    Examples:
      aegis term run dev -- npm test       # run a command, print its output
      aegis term attach dev                # type into it; Ctrl+] detaches
      aegis term list
    """


@term.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the terminals as JSON.")
@click.pass_context
def list_terminals(ctx: click.Context, as_json: bool) -> None:
    """List the shared terminals: name, state, the command running, who opened it.

    Does not start the daemon.
    """
    project = load_project(ctx)

    async def main() -> int:
        from aegis.daemon.client import DaemonClient, DaemonNotRunning

        try:
            terminals = await DaemonClient(project.state_dir, name="cli:term").terminals()
        except DaemonNotRunning:
            terminals = []
        if as_json:
            print_json(terminals)
        elif not terminals:
            click.echo("no terminals (aegis term attach NAME opens one)", err=True)
        else:
            now = time.time()
            rows = [
                [
                    t["name"],
                    "exited" if not t["alive"] else "busy" if t["busy"] else "idle",
                    t["running"] or "-",
                    str(t["last_seq"]),
                    t["created_by"],
                    f"{int(now - t['created_at'])}s",
                ]
                for t in terminals
            ]
            print_table(["NAME", "STATE", "RUNNING", "COMMANDS", "OPENED BY", "AGE"], rows)
        return 0

    ctx.exit(run_client(main))


@term.command("run")
@click.argument("name")
@click.argument("command", nargs=-1, required=True)
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for it.")
@click.option("--shell", help="The shell of a terminal opened now (default: yours).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    command: tuple[str, ...],
    timeout: float,
    shell: str | None,
    as_json: bool,
) -> None:
    """Run COMMAND in terminal NAME (opened if needed) and print its output.

    The exit status is the command's (1 when the shell cannot tell it). A command
    still running at the timeout goes on in the terminal (exit status 124).

    \b
    Examples:
      aegis term run dev -- pytest -q
      aegis term run dev 'make build && make test'
    """
    _need_daemon(ctx)
    project = load_project(ctx)

    async def main() -> int:
        client = await project_daemon(project, name="cli:term")
        await _ensure(client, name, shell)
        result = await client.run_in_terminal(name, " ".join(command), timeout=timeout)
        if as_json:
            print_json(result)
        elif result["output"]:
            click.echo(result["output"])
        if result["status"] == "timeout":
            click.secho(
                f"still running after {timeout:g}s (aegis term attach {name} follows it)",
                err=True,
                dim=True,
            )
            return 124
        if result["status"] == "exited":
            click.secho("the terminal's shell exited", err=True, dim=True)
            return 1
        return int(result["exit"]) if result["exit"] is not None else 0

    ctx.exit(run_client(main))


@term.command("close")
@click.argument("name")
@click.pass_context
def close(ctx: click.Context, name: str) -> None:
    """Close terminal NAME: its shell and what runs in it are stopped (its ledger stays)."""
    _need_daemon(ctx)
    project = load_project(ctx)

    async def main() -> int:
        from aegis.daemon.client import DaemonClient

        await DaemonClient(project.state_dir, name="cli:term").close_terminal(name)
        click.echo(f"closed {name}", err=True)
        return 0

    ctx.exit(run_client(main))


@term.command("attach")
@click.argument("name")
@click.option("--shell", help="The shell of a terminal opened now (default: yours).")
@click.pass_context
def attach(ctx: click.Context, name: str, shell: str | None) -> None:
    """Attach this terminal to shared terminal NAME (opened if needed).

    What you type goes to its shell, what it prints shows here, and it takes this
    terminal's size. Ctrl+] detaches: the terminal goes on in the daemon, and
    commands running in it too.
    """
    _need_daemon(ctx)
    project = load_project(ctx)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError(
            "aegis term attach needs a terminal",
            hint=f"run commands with `aegis term run {name} -- COMMAND`",
        )

    async def main() -> int:
        client = await project_daemon(project, name="cli:term-attach")
        await _ensure(client, name, shell)
        reason = await _attached(client, name)
        click.echo(f"\r\n[{reason}]", err=True)
        return 0

    ctx.exit(run_client(main))


async def _attached(client: DaemonClient, name: str) -> str:
    import termios
    import tty

    from aegis.daemon.client import StreamEnd

    stdin = sys.stdin.fileno()
    saved = termios.tcgetattr(stdin)
    reason = f"detached from {name}"

    async def resize() -> None:
        size = os.get_terminal_size(stdin)
        await client.resize_terminal(name, size.lines, size.columns)

    await resize()
    tty.setraw(stdin)
    try:
        async with anyio.create_task_group() as tg:

            async def show() -> None:
                nonlocal reason
                os.write(sys.stdout.fileno(), b"\x1b[H\x1b[2J")
                async for item in client.terminal_output(name):
                    if isinstance(item, StreamEnd):
                        reason = f"{name}: {item.reason}"
                        break
                    os.write(sys.stdout.fileno(), item)
                tg.cancel_scope.cancel()

            async def forward() -> None:
                while True:
                    await anyio.wait_readable(stdin)
                    data = os.read(stdin, 4096)
                    if not data:
                        break
                    detach = data.find(DETACH)
                    if detach != -1:
                        if detach:
                            await client.type_into(name, data[:detach])
                        break
                    await client.type_into(name, data)
                tg.cancel_scope.cancel()

            async def follow_size() -> None:
                with anyio.open_signal_receiver(signal.SIGWINCH) as signals:
                    async for _ in signals:
                        await resize()

            tg.start_soon(show)
            tg.start_soon(forward)
            tg.start_soon(follow_size)
    finally:
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
    return reason
