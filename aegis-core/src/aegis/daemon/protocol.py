"""The client protocol's constants: its version, the daemon's files, the headers.

Imported by the daemon and by every client, so it imports nothing but the standard
library. The protocol itself is described in ``docs/protocol.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROTOCOL_VERSION = 1
"""Bumped when a change would break a client of the previous version."""

API_PREFIX = "/v1"

SOCKET_NAME = "daemon.sock"
LOCK_NAME = "daemon.lock"
LOG_NAME = "daemon.log"

PROTOCOL_HEADER = "Aegis-Protocol"
"""Sent both ways: the protocol version the sender speaks."""
VERSION_HEADER = "Aegis-Version"
"""Sent both ways: the aegis version of the sender."""
CLIENT_HEADER = "Aegis-Client"
"""Sent by clients: a short name for ``status`` (``cli:attach``, ``tui``)."""
CONFIG_HEADER = "Aegis-Config-Digest"
"""Sent by a client that wants its request served only by a daemon running ``.aegis.py``
as the file is now: its :func:`config_digest`. Another daemon answers 409
``config_changed`` and does nothing."""

IDLE_TIMEOUT_ENV = "AEGIS_DAEMON_IDLE_TIMEOUT"
"""Seconds an idle daemon waits before it exits (``0``: never)."""
DEFAULT_IDLE_TIMEOUT = 600.0


def config_digest(path: Path) -> str | None:
    """A digest of the ``.aegis.py`` at ``path`` (``None`` if it cannot be read): a
    client compares it with the daemon's to know whether the daemon runs the file as
    it is now."""
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def socket_path(state_dir: Path) -> Path:
    """``.aegis/daemon.sock``: where the daemon of this project listens."""
    return state_dir / SOCKET_NAME


def lock_path(state_dir: Path) -> Path:
    """``.aegis/daemon.lock``: held by the running daemon for its whole life."""
    return state_dir / LOCK_NAME


def log_path(state_dir: Path) -> Path:
    """``.aegis/daemon.log``: the output of a daemon started in the background."""
    return state_dir / LOG_NAME


def idle_timeout_from_env(default: float = DEFAULT_IDLE_TIMEOUT) -> float:
    """The idle timeout :data:`IDLE_TIMEOUT_ENV` sets, or ``default``.

    Raises ``ValueError`` for a value that is not a number of seconds.
    """
    raw = os.environ.get(IDLE_TIMEOUT_ENV, "").strip()
    if not raw:
        return default
    value = float(raw)
    if value < 0:
        raise ValueError(f"{IDLE_TIMEOUT_ENV}={raw}: not a number of seconds")
    return value
