"""Unix socket paths of any length.

A socket's path must fit in ``sun_path`` (108 bytes on Linux), and a project may sit
deeper than that. A longer path is reached through the folder's file descriptor
(``/proc/self/fd/N/daemon.sock``), which is short whatever the folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MAX_PATH = 100
"""Bytes of a path used as it is (below Linux's 108, with room to spare)."""


@contextmanager
def reachable(path: Path) -> Iterator[str]:
    """A path naming the same socket as ``path`` that fits in ``sun_path``."""
    if len(os.fsencode(path)) <= MAX_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
