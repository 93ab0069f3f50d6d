"""Finding the processes a claude session leaves outside its process group.

claude's Bash tool starts every command in a session of its own (``setsid``), so a
command that leaves something running (``server &``, ``(sleep 300 &)``) escapes the
process group that :class:`~aegis.process.ManagedProcess` stops, and survives the
session. To find those processes again, each session's environment carries a tag
(``AEGIS_SESSION_TAG=<random>``) that every descendant inherits whatever its group,
session or parent; :func:`kill_tagged` kills the processes that carry it.

Linux only (it reads ``/proc/<pid>/environ``); elsewhere it finds nothing. A process
that wipes its own environment escapes it too.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import uuid
from pathlib import Path

TAG_VARIABLE = "AEGIS_SESSION_TAG"
"""The environment variable marking a session's processes."""

_live_tags: set[str] = set()


def new_tag() -> str:
    """A fresh tag, remembered until :func:`kill_tagged` (or exit) sweeps it."""
    tag = uuid.uuid4().hex
    _live_tags.add(tag)
    return tag


def tagged_pids(tag: str, proc: Path = Path("/proc")) -> list[int]:
    """The processes whose environment holds ``AEGIS_SESSION_TAG=<tag>`` (not ourselves)."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    own = os.getpid()
    found: list[int] = []
    with contextlib.suppress(OSError):
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == own:
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if needle in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


def kill_tagged(tag: str) -> list[int]:
    """SIGKILL every process carrying ``tag``; return their pids."""
    _live_tags.discard(tag)
    pids = tagged_pids(tag)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


@atexit.register
def _sweep_all() -> None:
    # Sessions not closed through their driver (a crash, sys.exit in a callback).
    for tag in list(_live_tags):
        kill_tagged(tag)
