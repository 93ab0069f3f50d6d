"""The aegis plugin of aegis-tui: adds ``aegis tui`` and makes it the default command.

Textual is imported only when the command runs, so that ``aegis --help`` stays fast.
"""

from __future__ import annotations

import click

from aegis.hookspecs import hookimpl


@click.command()
@click.option("--profile", "-p", help="Open a tab of this agent profile (beside restored tabs).")
@click.option("--clean", is_flag=True, help="Start fresh instead of restoring the last tabs.")
@click.pass_context
def tui(ctx: click.Context, profile: str | None, clean: bool) -> None:
    """Open the terminal UI (the default when aegis runs without a command).

    One tab per live session of the project's daemon (started when none runs);
    quitting detaches and the agents go on. The tabs are restored the next time
    aegis opens in the same project (ended sessions resumed). F1 lists the keys.

    \b
    Examples:
      aegis                    attach to the project's daemon
      aegis tui -p reviewer    ... and open a tab of the reviewer profile
      aegis --no-daemon        run the agents in this process (they stop on quit)
    """
    from aegis.cli._client import daemon_wanted
    from aegis.cli._context import search_paths
    from aegis_tui.launch import run_app

    ctx.exit(
        run_app(
            search_paths=search_paths(ctx),
            profile=profile,
            clean=clean,
            daemon=daemon_wanted(ctx),
        )
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``aegis tui`` and make it what a bare ``aegis`` runs."""
    cli.add_command(tui)
    set_default = getattr(cli, "set_default_command", None)
    if set_default is not None:
        set_default("tui")
