"""``Postgres``: the choice of this backend in ``.aegis.py``, with its settings."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aegis.errors import ConfigError

if TYPE_CHECKING:
    from aegis_queue_postgres.backend import PostgresQueueBackend

URL_ENV = "AEGIS_POSTGRES_URL"
"""The database URL of ``AEGIS_QUEUE_BACKEND=postgres`` (no ``.aegis.py`` choice)."""
PASSWORD_ENV = "AEGIS_POSTGRES_PASSWORD"
"""Where ``AEGIS_QUEUE_BACKEND=postgres`` reads the password (libpq's own ways work too)."""

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Postgres:
    """The PostgreSQL queue backend, as ``.aegis.py`` chooses it::

        from aegis_queue_postgres import Postgres

        queue_backend = Postgres(
            "postgresql://aegis@db.internal:5432/aegis", password_env="AEGIS_DB_PASSWORD"
        )

    ``url`` is a libpq URL or ``key=value`` string *without* a password:
    ``.aegis.py`` is committed. The password is read, when the backend connects,
    from the environment variable ``password_env``; libpq's ``PGPASSWORD`` and
    ``~/.pgpass`` work as well. It is never written to ``.aegis/`` or a log.
    ``schema`` holds this project's tables, so that several projects can share
    one database. Create or upgrade them with ``aegis queue migrate``.
    """

    url: str
    password_env: str | None = None
    schema: str = "aegis"
    lease_seconds: float = 60.0
    """How long a claim holds without a heartbeat: a task whose process died (or lost
    the database) is failed this long after its last heartbeat."""

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise ConfigError(
                "Postgres(url=...) needs the database's URL",
                hint="Postgres('postgresql://aegis@db.internal:5432/aegis')",
            )
        if _has_password(self.url):
            raise ConfigError(
                "the PostgreSQL URL holds a password, and .aegis.py is committed",
                hint="leave it out of the URL and name the environment variable that holds "
                "it: Postgres(url, password_env='AEGIS_DB_PASSWORD')",
            )
        if not _SCHEMA_NAME.match(self.schema):
            raise ConfigError(
                f"Postgres(schema={self.schema!r}) is not a plain PostgreSQL name",
                hint="lower-case letters, digits and _, not starting with a digit",
            )

    @property
    def name(self) -> str:
        """The registered name of this backend."""
        return "postgres"

    def password(self) -> str | None:
        """The password from ``password_env`` (``None``: libpq finds one, or none is needed)."""
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"the PostgreSQL password is to come from ${self.password_env}, which is not set",
                hint=f"export {self.password_env}=... in the environment aegis runs in",
            )
        return value

    def open(self, state_dir: Path) -> PostgresQueueBackend:
        """The backend (it connects on first use)."""
        from aegis_queue_postgres.backend import PostgresQueueBackend

        return PostgresQueueBackend(
            self.url,
            password=self.password(),
            schema=self.schema,
            lease_seconds=self.lease_seconds,
        )


def from_environment() -> Postgres:
    """The choice ``AEGIS_QUEUE_BACKEND=postgres`` makes: ``$AEGIS_POSTGRES_URL``."""
    url = os.environ.get(URL_ENV)
    if not url:
        raise ConfigError(
            f"the postgres queue backend needs a database: ${URL_ENV} is not set",
            hint=f"export {URL_ENV}=postgresql://user@host/db, or choose it in .aegis.py: "
            "queue_backend = Postgres(url, password_env=...)",
        )
    return Postgres(url, password_env=PASSWORD_ENV if PASSWORD_ENV in os.environ else None)


def _has_password(url: str) -> bool:
    if "://" in url:
        userinfo = url.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
        return ":" in userinfo
    return re.search(r"(^|\s)password\s*=", url) is not None
