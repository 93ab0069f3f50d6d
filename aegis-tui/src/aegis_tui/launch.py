"""Starting the TUI from the ``aegis`` command: load the project, check the profile, run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from aegis.config.loader import load_project


def run_app(
    *, search_paths: Sequence[Path] | None, profile: str | None = None, clean: bool = False
) -> int:
    """Run the TUI on the project found from ``search_paths`` until the user quits.

    Raises :class:`~aegis.errors.ConfigError` for a missing or broken ``.aegis.py``
    (the ``aegis`` group reports it) and :class:`click.BadParameter` for an
    unknown ``profile``. Returns the exit status.
    """
    project = load_project(search_paths)
    if profile is not None and profile not in project.agents:
        names = ", ".join(project.agents)
        raise click.BadParameter(f"no agent profile {profile!r} (profiles: {names})")
    from aegis_tui.app import AegisApp

    app = AegisApp(project, profile=profile, clean=clean)
    app.run()
    return app.return_code or 0
