"""One voice for every mistake the CLI reports: ``error: ...`` and, when useful, ``hint: ...``.

Errors reach the user from four places: aegis's own commands (:class:`CliError`),
configuration problems (:class:`~aegis.errors.ConfigError`), state on disk that
cannot be used (:class:`~aegis.errors.StateError`), and click's parsing
(a missing argument, a bad option value, an unknown command). The ``aegis`` group
turns the last three into a :class:`CliError` (:func:`as_cli_error`), so that they
all look alike, whichever part found them.
"""

from __future__ import annotations

from typing import IO, Any

import click


class CliError(click.ClickException):
    """A mistake the user can fix, shown as ``error: MESSAGE`` and ``  hint: HINT``.

    The exit status is 1, or 2 for a misused command line (as click's usage errors).
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def show(self, file: IO[Any] | None = None) -> None:
        show_error(self.message, self.hint)


class CliUsageError(CliError):
    """A misused command line (a missing argument, an unknown option): exit status 2."""

    exit_code = 2


def show_error(message: str, hint: str | None = None) -> None:
    """Print ``error: MESSAGE`` (and ``  hint: HINT``) on stderr."""
    click.secho(f"error: {message}", err=True, fg="red")
    if hint:
        click.secho(f"  hint: {hint}", err=True)


def as_cli_error(error: Exception) -> CliError:
    """The :class:`CliError` saying what ``error`` (a click or configuration error) says."""
    from aegis.errors import ConfigError, StateError, WorkspaceError

    if isinstance(error, CliError):
        return error
    if isinstance(error, WorkspaceError):
        return CliError(error.message, hint=error.hint)
    if isinstance(error, StateError):
        return CliError(error.message, hint=error.hint)
    if isinstance(error, ConfigError):
        where = error.where()
        return CliError(f"{where}: {error.message}" if where else error.message, hint=error.hint)
    if isinstance(error, click.UsageError):
        return CliUsageError(_sentence_case(error.format_message()), hint=_usage_hint(error.ctx))
    if isinstance(error, click.ClickException):
        return CliError(_sentence_case(error.format_message()))
    return CliError(str(error))


def _sentence_case(message: str) -> str:
    """click's ``Missing argument 'QUEUE'.`` in aegis's voice: ``missing argument 'QUEUE'``."""
    message = message.strip().removesuffix(".")
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        message = message[0].lower() + message[1:]
    return message


def _usage_hint(ctx: click.Context | None) -> str | None:
    if ctx is None:
        return None
    usage = ctx.get_usage().removeprefix("Usage: ").strip()
    usage = " ".join(usage.split())  # click wraps long usage lines
    return f"usage: {usage} (more: `{ctx.command_path} --help`)"
