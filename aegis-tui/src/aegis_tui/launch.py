"""Starting the TUI from the ``aegis`` command: load the project, check the profile, run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from aegis.config.loader import load_project


def run_app(
    *,
    search_paths: Sequence[Path] | None,
    profile: str | None = None,
    clean: bool = False,
    daemon: bool = True,
) -> int:
    """Run the TUI on the project found from ``search_paths`` until the user quits.

    With ``daemon`` it attaches to the project's daemon (started when none runs);
    without, it runs a daemon of its own in this process, stopped when it quits.

    Raises :class:`~aegis.errors.ConfigError` for a missing or broken ``.aegis.py``
    (the ``aegis`` group reports it) and :class:`click.BadParameter` for an
    unknown ``profile``. Returns the exit status.
    """
    project = load_project(search_paths)
    if profile is not None and profile not in project.agents:
        names = ", ".join(project.agents)
        raise click.BadParameter(f"no agent profile {profile!r} (profiles: {names})")
    from aegis_tui.app import AegisApp
    from aegis_tui.connection import AttachDaemon, HostDaemon

    connection = AttachDaemon() if daemon else HostDaemon()
    app = AegisApp(project, profile=profile, clean=clean, connection=connection)
    app.run()
    if app.failure is not None:
        from aegis.cli._errors import CliError
        from aegis.daemon.client import DaemonError

        failure = app.failure
        while isinstance(failure, ExceptionGroup) and len(failure.exceptions) == 1:
            failure = failure.exceptions[0]
        if isinstance(failure, DaemonError):
            raise CliError(failure.message, hint=failure.hint)
        raise CliError(f"aegis could not attach to its daemon: {app.startup_error}")
    return app.return_code or 0
