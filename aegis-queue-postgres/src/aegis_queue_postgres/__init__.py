"""aegis queue backend on PostgreSQL: one project's queues shared by workers on many hosts.

Select it in ``.aegis.py``::

    from aegis_queue_postgres import Postgres

    queue_backend = Postgres(
        "postgresql://aegis@db.internal/aegis", password_env="AEGIS_DB_PASSWORD"
    )

then create its tables once with ``aegis queue migrate``.
"""

from aegis_queue_postgres.config import Postgres

__version__ = "0.1.0"

__all__ = ["Postgres"]
