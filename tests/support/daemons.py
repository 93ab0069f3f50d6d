"""Daemons a test started: found by their lock files, stopped after the test.

Client commands start the project's daemon in the background, and a daemon outlives
the command by design (until its idle timeout). After every test, each daemon that
holds a lock under the test's ``tmp_path`` is stopped: SIGTERM (it closes its
sessions and stops its agents), then SIGKILL if it has not gone within 15 seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from aegis.daemon.lock import holder

STOP_WAIT_S = 15.0


def daemons_under(folder: Path) -> list[int]:
    """Pids of the daemons holding a lock in a ``.aegis`` folder under ``folder``."""
    pids = []
    for lock in folder.glob("**/.aegis/daemon.lock"):
        pid = holder(lock)
        if pid is not None:
            pids.append(pid)
    return pids


def stop_daemons_under(folder: Path) -> list[int]:
    """Stop every daemon under ``folder``; the pids that were running."""
    pids = daemons_under(folder)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
