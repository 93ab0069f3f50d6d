"""``aegis providers``: the harnesses aegis can drive here."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from aegis.cli._context import print_json, print_table


def _describe(entry: Any) -> dict[str, Any]:
    provider = entry.provider
    path = provider.find_executable()
    return {
        "name": provider.name,
        "aliases": list(provider.aliases),
        "config_class": provider.config_class.__name__,
        "distribution": entry.distribution,
        "plugin": entry.plugin,
        "executable": provider.executable,
        "executable_path": path,
        "version": provider.version(path) if path else None,
        "install_hint": provider.install_hint or None,
        "description": provider.description,
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def providers(as_json: bool) -> None:
    """List the providers: the harness CLIs aegis can drive.

    For each: its name and aliases (what Agent(harness=...) accepts), the package
    that provides it, whether its executable is on PATH, and the version it
    reports. Providers come from plugins: `pip install aegis-provider-claude`
    adds claude-code.
    """
    from aegis.registry import get_registry

    registry = get_registry()
    entries = registry.all()
    # --version of a node CLI takes a while; ask them all at once.
    with ThreadPoolExecutor(max_workers=max(1, len(entries))) as pool:
        described = list(pool.map(_describe, entries))
    failures = [info.as_dict() for info in registry.failures]
    if as_json:
        print_json(
            {"providers": described, "failed_plugins": failures, "conflicts": registry.conflicts}
        )
        return
    rows = []
    for item in described:
        if item["executable"] is None:
            found = "(built in)"
        elif item["executable_path"]:
            found = item["executable_path"]
        else:
            found = f"not found: {item['install_hint'] or item['executable']}"
        rows.append(
            [
                item["name"],
                ", ".join(item["aliases"]) or "-",
                item["distribution"] or "-",
                found,
                item["version"] or "-",
            ]
        )
    print_table(["NAME", "ALIASES", "DISTRIBUTION", "EXECUTABLE", "VERSION"], rows)
    for failure in failures:
        click.secho(
            f"\nplugin {failure['name']!r} ({failure['distribution']}) failed: "
            f"{failure['error']}; its providers are unavailable",
            fg="red",
            err=True,
        )
    for conflict in registry.conflicts:
        click.secho(f"warning: {conflict}", fg="yellow", err=True)
