"""Which processes run a project's queues right now (``aegis serve``, the TUI, ``chat``...).

A process that dispatches queued tasks announces itself with a file named after
its owner string (see :mod:`aegis.queue.owner`) in ``.aegis/runners/``, removed
when it stops. A file left by a process that was killed is recognised as stale by
its owner, and ignored (and removed) by whoever looks. ``aegis queue enqueue``
uses this to say honestly whether the task will run now.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from aegis.private_files import open_private, private_dir
from aegis.queue.owner import current_owner, is_owner_alive

RUNNERS_DIR = "runners"


@contextlib.asynccontextmanager
async def announced(state_dir: Path, *, dispatch: bool = True) -> AsyncIterator[None]:
    """While inside, this process is listed among the project's queue runners (if it
    ``dispatch``-es: a process that only looks at the queues is not one)."""
    if not dispatch:
        yield
        return
    path = state_dir / RUNNERS_DIR / _file_name(current_owner())
    await anyio.to_thread.run_sync(_create, path)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))


def _create(path: Path) -> None:
    private_dir(path.parent)
    os.close(open_private(path, os.O_WRONLY | os.O_TRUNC))


def running(state_dir: Path) -> list[str]:
    """The owner strings of the processes that run this project's queues now."""
    folder = state_dir / RUNNERS_DIR
    alive = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        owner = _owner_of_file(path.name)
        if is_owner_alive(owner):
            alive.append(owner)
        else:
            path.unlink(missing_ok=True)  # left by a process that was killed
    return alive


def _file_name(owner: str) -> str:
    return owner.replace("/", "%2F")


def _owner_of_file(name: str) -> str:
    return name.replace("%2F", "/")
