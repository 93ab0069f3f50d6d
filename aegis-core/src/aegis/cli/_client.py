"""Running a command that talks to the daemon: its errors in the CLI's voice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aegis.cli._errors import CliError
from aegis.cli._runtime import run_command


def run_client(
    main: Callable[[], Awaitable[int]],
    *,
    on_sigint: Callable[[], Awaitable[bool]] | None = None,
) -> int:
    """:func:`~aegis.cli._runtime.run_command`, with a daemon's error (not running, another
    version, no answer) shown as ``error: ...`` and ``hint: ...``."""
    from aegis.daemon.client import DaemonError

    try:
        return run_command(main, on_sigint=on_sigint)
    except DaemonError as exc:
        raise CliError(exc.message, hint=exc.hint) from None
