"""One daemon per project: an exclusive ``flock`` on ``.aegis/daemon.lock``.

The daemon takes the lock before anything else and holds it until its process
ends; the kernel drops it when the process dies, even by ``kill -9``, so there is
no stale lock to clean up and no race between two starts (the loser finds the lock
taken). The file also holds the holder's pid, for ``aegis daemon stop`` to signal a
daemon it cannot talk to (one of another protocol version): the pid is information,
the lock is the truth.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from aegis.private_files import open_private


class AlreadyRunning(RuntimeError):
    """Another daemon holds the lock of this project."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"a daemon already runs for this project (pid {pid or '?'})")
        self.pid = pid


class DaemonLock:
    """The lock of one project's daemon; :meth:`acquire` it, :meth:`release` it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def acquire(self, wait: float = 2.0) -> None:
        """Take the lock, retrying for ``wait`` seconds; raise :class:`AlreadyRunning`.

        The short retry lets a client's :func:`holder` look (which takes the lock
        for an instant) pass without making a starting daemon give up.
        """
        fd = open_private(self.path, os.O_RDWR)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise AlreadyRunning(read_pid(self.path)) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (the process's end does it too)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_pid(path: Path) -> int | None:
    """The pid written in a lock file, if any."""
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def holder(path: Path) -> int | None:
    """The pid of the daemon holding the lock at ``path``, or ``None`` when none does."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):  # no lock, or .aegis is not a folder
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_pid(path) or 0
    finally:
        os.close(fd)  # closing drops a shared lock taken just above
    return None
