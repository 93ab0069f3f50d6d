"""The aegis plugin of aegis-queue-postgres (entry point ``postgres``).

Kept light: psycopg is imported only when a project opens the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aegis.hookspecs import hookimpl


def open_from_environment(state_dir: Path) -> Any:
    """``AEGIS_QUEUE_BACKEND=postgres``: the database of ``$AEGIS_POSTGRES_URL``."""
    from aegis_queue_postgres.config import from_environment

    return from_environment().open(state_dir)


@hookimpl
def register_queue_backends(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("postgres", open_from_environment)
