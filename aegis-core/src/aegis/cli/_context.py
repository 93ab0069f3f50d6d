"""Helpers shared by the CLI commands: the project, tables, JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aegis.cli._errors import CliError

if TYPE_CHECKING:
    from aegis.config.loader import Project
    from aegis.project_files import ProjectFiles


def search_paths(ctx: click.Context) -> list[Path] | None:
    """The ``--config`` given to ``aegis``, as a search path list (``None``: the default)."""
    root = ctx.find_root()
    config_path = (root.obj or {}).get("config_path")
    return [config_path] if config_path is not None else None


def load_project(ctx: click.Context) -> Project:
    """Load ``.aegis.py`` as ``aegis --config`` (or the default search) says."""
    from aegis.config.loader import load_project as load

    return load(search_paths(ctx))


def locate_project(ctx: click.Context) -> ProjectFiles:
    """Find ``.aegis.py`` as :func:`load_project` would, without executing it."""
    from aegis.project_files import locate_project as locate

    return locate(search_paths(ctx))


def require_profile(project: Project, profile: str) -> None:
    """Refuse an agent profile ``.aegis.py`` does not define, naming the ones it does."""
    if profile not in project.agents:
        raise CliError(
            f"no agent profile {profile!r}", hint=f"profiles: {', '.join(project.agents)}"
        )


def text_at_hand(value: str | None) -> bool:
    """Whether :func:`read_text_argument` has ``value`` without waiting for a person: it
    is given, as itself or as ``-`` with standard input piped (not a terminal)."""
    return value is not None and (value != "-" or not sys.stdin.isatty())


def read_text_argument(value: str | None, what: str) -> str:
    """A message-like argument: ``-`` (or none) reads standard input; empty is refused.

    ``what`` names it in the error (``the message is empty``).
    """
    if value is None or value == "-":
        if value is None and sys.stdin.isatty():
            # Without this, a forgotten argument looks like a hang.
            click.secho(
                f"reading {what} from the terminal: type it, then press Ctrl+D on an empty "
                f"line (or give it as an argument)",
                dim=True,
                err=True,
            )
        value = sys.stdin.read()
    if not value.strip():
        raise CliError(f"{what} is empty", hint=f"give {what} as an argument, or `-` for stdin")
    return value


class Limit(click.ParamType):  # type: ignore[type-arg]  # generic in recent click only
    """How many of the latest items: a positive count; a huge one means all of them."""

    name = "count"
    CAP = 2**62  # anything above is "all": stays within SQLite's 64-bit integers

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        count = click.INT.convert(value, param, ctx)
        if count < 1:
            self.fail(f"{count} is not a count (at least 1)", param, ctx)
        return min(count, self.CAP)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A plain, aligned table (no colours, so it survives pipes and logs)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [headers, *rows]
    for i, row in enumerate(lines):
        text = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        click.secho(text, bold=i == 0)
