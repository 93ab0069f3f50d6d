"""Exceptions shared across aegis."""

from __future__ import annotations


class ConfigError(Exception):
    """A problem with the configuration, explained for people.

    ``str(error)`` is the whole message: where (file and line, or profile and
    field), what is wrong, and a hint on what to do. The parts are also kept as
    attributes for frontends that lay them out themselves.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        profile: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.profile = profile
        self.field = field
        self.hint = hint

    def where(self) -> str:
        """``file:line`` and ``profile 'x', field 'y'`` as far as they are known."""
        parts: list[str] = []
        if self.path is not None:
            parts.append(f"{self.path}:{self.line}" if self.line is not None else self.path)
        if self.profile is not None:
            target = f"agent {self.profile!r}"
            if self.field is not None:
                target += f", field {self.field!r}"
            parts.append(target)
        elif self.field is not None:
            parts.append(f"field {self.field!r}")
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class StateError(OSError):
    """aegis's state on disk (``.aegis/``) cannot be used as it is.

    An ``OSError``, so that code which survives a failing disk (a transcript writer
    that logs and goes on) survives this too.

    A database is damaged or is not one, ``.aegis`` is a file, the disk is full or
    unwritable. ``str(error)`` is the whole message for people: what, where, and a
    hint on the way out (``aegis repair``, freeing space). ``damaged`` is true when
    the file must be moved aside (``aegis repair`` does). ``transient`` is true
    when the same write may succeed later (a full disk, an I/O error): callers that
    hold a result worth keeping retry instead of dropping it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        hint: str | None = None,
        transient: bool = False,
        damaged: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.hint = hint
        self.transient = transient
        self.damaged = damaged

    def __str__(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


class MissingProviderError(ConfigError, ImportError):
    """A provider (or its configuration class) is not installed.

    It is a :class:`ConfigError` for ``.aegis.py`` and the CLI, and an
    ``ImportError`` so that ``from aegis.config import ClaudeCode`` fails the way
    Python programmers expect when a package is missing.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        ConfigError.__init__(self, message, hint=hint)


class MessageRefused(Exception):
    """Raised by a ``before_send`` hook implementation to refuse a message."""


class DriverError(Exception):
    """A harness session could not be started or driven.

    Raised by ``Driver.start`` (the CLI is missing, exits at once, or refuses the
    handshake). Failures during a turn are reported as events instead.
    """


class HarnessNotFound(DriverError):
    """The executable a provider drives is not installed (the message says how to install it)."""


class WorkspaceError(Exception):
    """A worktree could not be made, reviewed, landed or discarded; nothing was half done.

    ``message`` says what and why, ``hint`` what to do about it. Not a
    :class:`DriverError`: a session that cannot get its worktree
    never started, and no event of it says why, so the error reaches the caller of
    ``spawn`` itself (the CLI shows it as ``error:`` and ``hint:``).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")
