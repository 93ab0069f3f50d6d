"""The built-in ``sqlite`` queue backend, registered through the plugin hook like any other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aegis.hookspecs import hookimpl


def open_sqlite_backend(state_dir: Path) -> Any:
    """The SQLite backend of a project: ``<state_dir>/queue.db``."""
    # Imported here: plugins load for every command, most of which never open the queue.
    from aegis.queue.sqlite_backend import SqliteQueueBackend

    return SqliteQueueBackend.for_state_dir(state_dir)


@hookimpl
def register_queue_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("sqlite", open_sqlite_backend)
