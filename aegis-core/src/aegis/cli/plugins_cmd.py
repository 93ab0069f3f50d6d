"""``aegis plugins``: what is installed, and what failed to load."""

from __future__ import annotations

import click

from aegis.cli._context import print_json, print_table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List the plugins aegis loaded: name, package, version, hooks.

    A plugin that failed to import is listed with its error; the rest of aegis
    keeps working. Set AEGIS_PLUGINS=name1,name2 to load only some plugins
    (the built-ins always load).
    """
    from aegis.plugins import get_host
    from aegis.registry import get_registry

    get_registry()  # runs register_providers: a plugin whose hook raises is listed as failed
    infos = get_host().infos()
    if as_json:
        print_json([info.as_dict() for info in infos])
        return
    rows = [
        [
            info.name,
            info.distribution or "-",
            info.version or "-",
            "FAILED" if info.error else ", ".join(info.hooks) or "-",
        ]
        for info in infos
    ]
    print_table(["NAME", "DISTRIBUTION", "VERSION", "HOOKS"], rows)
    for info in infos:
        if info.error:
            click.secho(
                f"\nplugin {info.name!r} ({info.distribution}) failed: {info.error}",
                fg="red",
                err=True,
            )
