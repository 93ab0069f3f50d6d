"""Helpers shared by the CLI commands: the project, tables, JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from aegis.config.loader import Project


def search_paths(ctx: click.Context) -> list[Path] | None:
    """The ``--config`` given to ``aegis``, as a search path list (``None``: the default)."""
    root = ctx.find_root()
    config_path = (root.obj or {}).get("config_path")
    return [config_path] if config_path is not None else None


def load_project(ctx: click.Context) -> Project:
    """Load ``.aegis.py`` as ``aegis --config`` (or the default search) says."""
    from aegis.config.loader import load_project as load

    return load(search_paths(ctx))


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
