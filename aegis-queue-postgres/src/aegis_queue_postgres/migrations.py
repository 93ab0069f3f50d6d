"""The versioned schema of the PostgreSQL backend, applied by ``aegis queue migrate``.

Never at import or on connecting: changing a shared database's tables is an
operator's act, done once for every host. A backend that finds the schema older
than it needs refuses to work and says to migrate; one that finds it newer (made
by a newer aegis-queue-postgres on another host) says to upgrade.

Migrations run in one transaction under an advisory lock, so two hosts migrating
at once apply each step once. A released version's step is never edited: a change
is a new step.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "tasks and the callback outbox",
        """
        CREATE TABLE tasks (
            id                 text PRIMARY KEY,      -- sortable: id order is creation order
            queue              text NOT NULL,
            payload            text NOT NULL,
            sender             text NOT NULL,
            callback           boolean NOT NULL,
            status             text NOT NULL,
            result             text,
            error              text,
            input_tokens       bigint,
            output_tokens      bigint,
            cache_read_tokens  bigint,
            cache_write_tokens bigint,
            cost_usd           double precision,
            created_at         double precision NOT NULL,  -- epoch seconds, the server's clock
            started_at         double precision,
            finished_at        double precision,
            worker_handle      text,
            owner              text,
            attempt            integer NOT NULL DEFAULT 1,
            retry_of           text
        );
        CREATE INDEX tasks_by_queue_status ON tasks (queue, status, id);
        CREATE INDEX tasks_by_status ON tasks (status, owner);
        CREATE TABLE callbacks (
            task_id      text PRIMARY KEY REFERENCES tasks (id),
            target       text NOT NULL,
            created_at   double precision NOT NULL,
            delivered_at double precision
        );
        CREATE INDEX callbacks_pending ON callbacks (task_id) WHERE delivered_at IS NULL;
        """,
    ),
    (
        2,
        "claims as leases renewed by heartbeats, and the processes that serve the queues",
        """
        ALTER TABLE tasks ADD COLUMN lease_until double precision;  -- the server's clock
        CREATE INDEX tasks_leases ON tasks (lease_until) WHERE status = 'running';
        CREATE TABLE workers (
            owner        text PRIMARY KEY,            -- host:pid:start time
            host         text NOT NULL,
            pid          integer NOT NULL,
            queues       text[] NOT NULL,
            started_at   double precision NOT NULL,
            heartbeat_at double precision NOT NULL
        );
        """,
    ),
    (
        3,
        "inbox messages between the runtimes of several hosts",
        """
        CREATE TABLE sessions (
            handle     text PRIMARY KEY,              -- a session, and the runtime holding it
            owner      text NOT NULL,
            created_at double precision NOT NULL
        );
        CREATE TABLE messages (
            id         bigserial PRIMARY KEY,         -- delivery order
            handle     text NOT NULL,
            sender     text NOT NULL,
            message    text NOT NULL,
            key        text UNIQUE,                   -- idempotency key, when given
            created_at double precision NOT NULL,
            taken_at   double precision,              -- NULL until its runtime took it
            taken_by   text
        );
        CREATE INDEX messages_waiting ON messages (handle, id) WHERE taken_at IS NULL;
        """,
    ),
)
LATEST = MIGRATIONS[-1][0]

_VERSIONS_TABLE = "schema_migrations"


def current_version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The version of ``schema``'s tables: 0 when it has none."""
    found = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AS present", (f"{schema}.{_VERSIONS_TABLE}",)
    ).fetchone()
    if not found or not _first(found):
        return 0
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(version), 0) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(_VERSIONS_TABLE)
        )
    ).fetchone()
    return int(_first(row)) if row else 0


def migrate(conn: psycopg.Connection[Any], schema: str) -> list[int]:
    """Bring ``schema`` to :data:`LATEST`; returns the versions applied by this call."""
    applied: list[int] = []
    name = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"aegis-migrate:{schema}",))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (version integer PRIMARY KEY,"
                " description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(name, sql.Identifier(_VERSIONS_TABLE))
        )
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(name))
        version = current_version(conn, schema)
        for step, description, statements in MIGRATIONS:
            if step <= version:
                continue
            conn.execute(statements.encode())
            conn.execute(
                sql.SQL("INSERT INTO {} (version, description) VALUES (%s, %s)").format(
                    sql.Identifier(_VERSIONS_TABLE)
                ),
                (step, description),
            )
            applied.append(step)
    return applied


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]
