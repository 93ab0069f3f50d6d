"""What an ``aegis worker`` killed outright left running, stopped by the next one on its host.

A worker's agents are harness processes in process groups of their own; a worker
killed with ``kill -9`` cannot stop them, and a harness in the middle of a tool call
does not notice that its standard input closed. Each process tree aegis starts
carries a tag beginning with its process's :data:`~aegis.process.TAG_PREFIX`, so a
worker records its prefix in ``.aegis/workers/``, and the next worker (or daemon) of
the project on this host stops the processes of a dead worker's prefix (as a daemon
does for the daemon before it).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from aegis.private_files import private_dir, write_private
from aegis.process import TAG_PREFIX, kill_tag_prefix
from aegis.queue.owner import is_owner_alive

WORKERS_DIR = "workers"

log = logging.getLogger("aegis.queue")


def _path(state_dir: Path, owner: str) -> Path:
    return state_dir / WORKERS_DIR / (owner.replace("/", "%2F") + ".json")


def record(state_dir: Path, owner: str) -> Path:
    """Note that ``owner`` (this process) starts agents tagged with its prefix; the path."""
    path = _path(state_dir, owner)
    private_dir(path.parent)
    write_private(path, json.dumps({"owner": owner, "process_tag_prefix": TAG_PREFIX}))
    return path


def sweep(state_dir: Path) -> list[int]:
    """Stop what the dead workers of this host left running; the pids stopped.

    Blocking (it reads ``/proc``): call it off the event loop.
    """
    folder = state_dir / WORKERS_DIR
    stopped: list[int] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            note = json.loads(path.read_text())
            owner, prefix = note["owner"], note["process_tag_prefix"]
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # unreadable: nothing can be done with it
            continue
        if is_owner_alive(owner):  # alive, or on another host: not ours to judge
            continue
        left = kill_tag_prefix(prefix) if isinstance(prefix, str) and prefix else []
        if left:
            log.warning(
                "stopped %d process%s the aegis worker %s left running",
                len(left),
                "" if len(left) == 1 else "es",
                owner,
            )
        stopped += left
        path.unlink(missing_ok=True)
    return stopped
