"""Readable session handles (``lucid-knuth``), never reused within a project's state.

A handle is taken by creating its folder under ``.aegis/sessions/``: ``mkdir`` is
atomic, so two aegis processes of one project can never take the same handle, and
a handle once used stays taken for as long as the project's state is kept.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from aegis.private_files import private_dir

ADJECTIVES = (  # noqa: SIM905 (a word list reads best as words)
    "agile amber bold brave bright brisk calm clever cosmic crisp curious daring deft "
    "eager early fair fancy fearless fond gentle glad golden grand happy hardy honest "
    "humble jolly keen kind lively lucid lucky merry mighty modest nimble noble plucky "
    "polite proud quick quiet rapid ready regal robust rosy serene sharp shiny silent "
    "sleek smart snappy solid spry stellar steady sturdy sunny swift tidy upbeat vivid "
    "warm wise witty zesty "
).split()

NAMES = (  # noqa: SIM905 (a word list reads best as words)
    "babbage backus bohr boole cerf curie darwin dijkstra einstein euclid euler faraday "
    "fermat feynman gauss goodall hamilton hopper hypatia kepler knuth lamarr lamport "
    "liskov lovelace maxwell mccarthy meitner minsky moore newton noether pascal pasteur "
    "perlman planck ritchie shannon thompson tesla torvalds turing wirth wozniak "
).split()

_VALID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class HandleTaken(ValueError):
    """The handle asked for is in use or was used before in this project."""


def valid_handle(handle: str) -> bool:
    """Lower-case letters, digits, ``-`` and ``_``; 1 to 63 characters."""
    return bool(_VALID.fullmatch(handle))


def allocate(sessions_dir: Path, wanted: str | None = None, *, reuse: bool = False) -> str:
    """Take a handle: ``wanted`` if given (and free), else a new readable one.

    With ``reuse=True`` a ``wanted`` handle used in an earlier run may be taken
    again (restoring a session); it must still not be live, which the caller checks.
    """
    private_dir(sessions_dir)
    if wanted is not None:
        if not valid_handle(wanted):
            raise ValueError(
                f"invalid handle {wanted!r}: use lower-case letters, digits, '-' and '_'"
            )
        try:
            private_dir(sessions_dir / wanted, exist_ok=False)
        except FileExistsError:
            if not reuse:
                raise HandleTaken(f"handle {wanted!r} was already used in this project") from None
        return wanted
    for attempt in range(200):
        name = f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NAMES)}"
        if attempt >= 50:  # the plain names are running out: add a number
            name = f"{name}-{secrets.randbelow(10_000)}"
        try:
            private_dir(sessions_dir / name, exist_ok=False)
        except FileExistsError:
            continue
        return name
    raise RuntimeError(f"could not find a free handle in {sessions_dir}")
