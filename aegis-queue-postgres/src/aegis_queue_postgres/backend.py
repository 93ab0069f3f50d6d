"""The PostgreSQL queue backend: one project's tasks in a database every host reaches.

The guarantees of :class:`~aegis.queue.backend.QueueBackend` hold across every
process of every host, by PostgreSQL's transactions:

* **Ids in commit order**: an ``add`` takes a transaction-scoped advisory lock of
  the schema before reading the largest id, as SQLite's write lock does, so FIFO
  by id is FIFO by enqueue across hosts.
* **``max_parallel`` across hosts**: a ``claim`` takes the queue's advisory lock,
  counts its running tasks and takes the oldest queued one (``FOR UPDATE SKIP
  LOCKED``, so a task being cancelled at that moment is passed over, not waited
  for) in one transaction. Claims of one queue are thus serialised — they are
  short — and two hosts can never both take the last free slot.
* **The first end wins, one callback**: an end is an ``UPDATE ... WHERE status IN
  (queued, running)``, and the callback's outbox row is written in its transaction.
* **Times from the server's clock** (``clock_timestamp()``), so a host whose clock
  is off does not reorder or misdate tasks.
* **Wake-ups**: each add and each end sends ``NOTIFY`` on :func:`channel` (the
  schema's) with the queue's name, delivered when its transaction commits.

The calls are synchronous, as the protocol asks (the queue manager runs them in
worker threads): one connection behind a lock, opened on first use and opened
again after it broke (a restarted server, a lost network). A connection found
broken when a call begins its transaction is replaced at once; one that breaks
during a call fails that call with a transient :class:`~aegis.errors.StateError`
(the queue manager tries a task's end again later), and the next call reconnects.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql
from psycopg.rows import dict_row

from aegis.errors import StateError
from aegis.events import Usage
from aegis.queue.backend import INTERRUPTED, PayloadTooLarge
from aegis.queue.task import TaskRecord, Tasks, TaskStatus, new_task_id, require_ending
from aegis_queue_postgres.migrations import LATEST, current_version, migrate

CONNECT_TIMEOUT = 10
"""Seconds to reach the server before a call fails (a URL that points nowhere)."""
LEASE_SECONDS = 60.0
"""How long a claim holds without a heartbeat (the queue manager beats every third)."""
LEASE_EXPIRED = (
    "lost: the aegis process running it ({owner}) stopped renewing its claim for over "
    "{lease:g}s (it was killed, its host went down, or it lost the database)"
)
"""The error of a task whose lease ran out: it is failed, not run again (retry it)."""
MAX_PAYLOAD_BYTES = 1 << 20
"""The largest payload (UTF-8 bytes) a task may carry: a prompt, not a file."""

_NOW = "extract(epoch FROM clock_timestamp())::float8"
_ACTIVE = [TaskStatus.queued.value, TaskStatus.running.value]

Row = dict[str, Any]


def channel(schema: str) -> str:
    """The ``LISTEN`` channel that announces adds and ends of tasks in ``schema``."""
    return f"aegis_tasks.{schema}"


class PostgresQueueBackend:
    """The :class:`~aegis.queue.backend.QueueBackend` on one PostgreSQL schema."""

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        schema: str = "aegis",
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.url = url
        self.schema = schema
        self.lease_seconds = lease_seconds
        self._password = password
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Row] | None = None
        self._checked = False
        self._closed = False

    # --- connection -------------------------------------------------------------------------

    @property
    def where(self) -> str:
        """The database, for people: host, port and name (never the password)."""
        try:
            parts = pg_conninfo.conninfo_to_dict(self.url)
        except psycopg.ProgrammingError:
            return "the configured database"
        host = parts.get("host") or "localhost"
        port = parts.get("port") or 5432
        return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or '?'}"

    def _connect(self) -> psycopg.Connection[Row]:
        extra: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "aegis"}
        if self._password is not None:
            extra["password"] = self._password
        try:
            conn = psycopg.connect(self.url, autocommit=True, row_factory=dict_row, **extra)
        except psycopg.ProgrammingError as exc:  # a malformed URL
            raise StateError(
                f"the PostgreSQL URL of the queue backend is not valid: {exc}",
                hint="postgresql://user@host:5432/dbname (the password from password_env)",
            ) from None
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from None
        try:
            conn.execute(self._search_path())
        except BaseException:
            conn.close()
            raise
        return conn

    def _search_path(self) -> sql.Composed:
        return sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema))

    def _unreachable(self, exc: psycopg.Error) -> StateError:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return StateError(
            f"cannot use the queue database {self.where}: {detail}",
            hint="check that the server runs and that this host reaches it, and the user and "
            "password (password_env in .aegis.py)",
            transient=True,
        )

    def _connection(self) -> psycopg.Connection[Row]:
        if self._closed:
            raise StateError("the queue backend was closed")
        if self._conn is None or self._conn.broken or self._conn.closed:
            self._drop()
            self._conn = self._connect()
        if not self._checked:
            self._check_schema(self._conn)
            self._checked = True
        return self._conn

    def _check_schema(self, conn: psycopg.Connection[Row]) -> None:
        version = current_version(conn, self.schema)
        if version < LATEST:
            raise StateError(
                f"the queue database {self.where} has aegis's tables at version {version} "
                f"(schema {self.schema!r}); this aegis needs version {LATEST}",
                hint="run `aegis queue migrate` once (from any host of the project)",
            )
        if version > LATEST:
            raise StateError(
                f"the queue database {self.where} has aegis's tables at version {version}, "
                f"newer than this aegis-queue-postgres knows ({LATEST})",
                hint="upgrade aegis-queue-postgres on this host",
            )

    def _drop(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None

    def _begin(self) -> psycopg.Connection[Row]:
        """The connection, in a new transaction.

        A connection found broken at ``BEGIN`` (the server restarted, or a network
        path dropped it, since its last use) is replaced once: nothing of this
        transaction was sent, so trying again on a new one is safe.
        """
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.execute("BEGIN")
            except psycopg.OperationalError as exc:
                self._drop()
                if attempt:
                    raise self._unreachable(exc) from exc
                continue
            return conn
        raise AssertionError("unreachable")

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Row]]:
        """One transaction: committed on success, else rolled back."""
        with self._lock:
            conn = self._begin()
            try:
                yield conn
                conn.execute("COMMIT")
            except psycopg.OperationalError as exc:
                # Broken mid-transaction: the server rolls back what did not commit.
                self._drop()
                raise self._unreachable(exc) from exc
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    self._drop()
                raise

    def _rows(self, query: Any, params: tuple[Any, ...] = ()) -> list[Row]:
        with self._tx() as conn:
            return conn.execute(query, params).fetchall()

    def migrate(self) -> list[int]:
        """Create or upgrade this backend's tables; the versions applied (none: up to date)."""
        with self._lock:
            if self._conn is None or self._conn.broken or self._conn.closed:
                self._drop()
                self._conn = self._connect()
            try:
                applied = migrate(self._conn, self.schema)
            except psycopg.OperationalError as exc:
                self._drop()
                raise self._unreachable(exc) from exc
            self._conn.execute(self._search_path())
            self._checked = False
            return applied

    def schema_version(self) -> int:
        """The version of this backend's tables in the database (0: not migrated)."""
        with self._lock:
            if self._conn is None or self._conn.broken or self._conn.closed:
                self._drop()
                self._conn = self._connect()
            return current_version(self._conn, self.schema)

    # --- the contract -----------------------------------------------------------------------

    def add(
        self,
        queue: str,
        payload: str,
        *,
        sender: str = "user",
        callback: bool = False,
        attempt: int = 1,
        retry_of: str | None = None,
    ) -> TaskRecord:
        size = len(payload.encode("utf-8", "surrogatepass"))
        if size > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(
                f"a task's payload is at most {MAX_PAYLOAD_BYTES // 1024} KiB; this one is "
                f"{size // 1024} KiB"
            )
        with self._tx() as conn:
            # Under the schema's lock, after the largest id: id order is commit order.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}:add",))
            last = conn.execute("SELECT max(id) AS last FROM tasks").fetchone()
            row = conn.execute(
                "INSERT INTO tasks (id, queue, payload, sender, callback, status, created_at,"
                f" attempt, retry_of) VALUES (%s, %s, %s, %s, %s, %s, {_NOW}, %s, %s)"
                " RETURNING *",
                (
                    new_task_id(after=last["last"] if last else None),
                    queue,
                    payload,
                    sender,
                    callback,
                    TaskStatus.queued.value,
                    attempt,
                    retry_of,
                ),
            ).fetchone()
            conn.execute("SELECT pg_notify(%s, %s)", (channel(self.schema), queue))
        assert row is not None
        return TaskRecord.from_row(row)

    def claim(self, queue: str, max_parallel: int, owner: str) -> TaskRecord | None:
        with self._tx() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}:claim:{queue}",)
            )
            running = conn.execute(
                "SELECT count(*) AS n FROM tasks WHERE queue = %s AND status = %s",
                (queue, TaskStatus.running.value),
            ).fetchone()
            if running is not None and running["n"] >= max_parallel:
                return None
            row = conn.execute(
                f"UPDATE tasks SET status = %s, owner = %s, started_at = {_NOW},"
                f" lease_until = {_NOW} + %s"
                " WHERE id = (SELECT id FROM tasks WHERE queue = %s AND status = %s"
                " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *",
                (
                    TaskStatus.running.value,
                    owner,
                    self.lease_seconds,
                    queue,
                    TaskStatus.queued.value,
                ),
            ).fetchone()
        return TaskRecord.from_row(row) if row is not None else None

    def set_worker(self, task_id: str, worker_handle: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE tasks SET worker_handle = %s WHERE id = %s", (worker_handle, task_id)
            )

    def finish(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        result: str | None = None,
        error: str | None = None,
        usage: Usage | None = None,
    ) -> TaskRecord | None:
        require_ending(status)
        with self._tx() as conn:
            return self._end(conn, task_id, status, result, error, usage, _ACTIVE)

    def _end(
        self,
        conn: psycopg.Connection[Row],
        task_id: str,
        status: TaskStatus,
        result: str | None,
        error: str | None,
        usage: Usage | None,
        from_states: list[str],
    ) -> TaskRecord | None:
        """End one task inside the caller's transaction, with its outbox row."""
        row = conn.execute(
            "UPDATE tasks SET status = %s, result = %s, error = %s, input_tokens = %s,"
            " output_tokens = %s, cache_read_tokens = %s, cache_write_tokens = %s,"
            f" cost_usd = %s, finished_at = {_NOW} WHERE id = %s AND status = ANY(%s)"
            " RETURNING *",
            (
                status.value,
                result,
                error,
                usage.input_tokens if usage else None,
                usage.output_tokens if usage else None,
                usage.cache_read_tokens if usage else None,
                usage.cache_write_tokens if usage else None,
                usage.cost_usd if usage else None,
                task_id,
                from_states,
            ),
        ).fetchone()
        if row is None:  # ended already: the first end wins
            return None
        task = TaskRecord.from_row(row)
        if task.callback_target is not None:
            conn.execute(
                "INSERT INTO callbacks (task_id, target, created_at)"
                f" VALUES (%s, %s, {_NOW}) ON CONFLICT DO NOTHING",
                (task_id, task.callback_target),
            )
        # A slot of the queue is free: the workers waiting for one look again.
        conn.execute("SELECT pg_notify(%s, %s)", (channel(self.schema), task.queue))
        return task

    def get(self, task_id: str) -> TaskRecord | None:
        rows = self._rows("SELECT * FROM tasks WHERE id = %s", (task_id,))
        return TaskRecord.from_row(rows[0]) if rows else None

    def list(
        self,
        queue: str | None = None,
        status: TaskStatus | None = None,
        limit: int | None = 100,
    ) -> Tasks:
        rows = self._rows(
            "SELECT * FROM tasks WHERE (%s::text IS NULL OR queue = %s)"
            " AND (%s::text IS NULL OR status = %s) ORDER BY id DESC LIMIT %s",
            (
                queue,
                queue,
                status and status.value,
                status and status.value,
                limit,
            ),
        )
        return [TaskRecord.from_row(row) for row in reversed(rows)]

    def counts(self) -> dict[str, dict[str, int]]:
        rows = self._rows("SELECT queue, status, count(*) AS n FROM tasks GROUP BY queue, status")
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["queue"], {})[row["status"]] = row["n"]
        return counts

    def heartbeat(self, owner: str, queues: Sequence[str]) -> None:
        """Renew the leases of ``owner``'s running tasks, and record that it lives."""
        host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        with self._tx() as conn:
            conn.execute(
                f"UPDATE tasks SET lease_until = {_NOW} + %s WHERE owner = %s AND status = %s",
                (self.lease_seconds, owner, TaskStatus.running.value),
            )
            conn.execute(
                "INSERT INTO workers (owner, host, pid, queues, started_at, heartbeat_at)"
                f" VALUES (%s, %s, %s, %s, {_NOW}, {_NOW}) ON CONFLICT (owner) DO UPDATE"
                " SET queues = excluded.queues, heartbeat_at = excluded.heartbeat_at",
                (owner, host, int(pid) if pid.isdigit() else 0, [*queues]),
            )

    async def notifications(self) -> AsyncIterator[str]:
        """The queue names that ``NOTIFY`` announces (adds and ends), on a connection of
        its own: ``""`` once listening; raises a transient StateError when it breaks."""
        extra: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "aegis"}
        if self._password is not None:
            extra["password"] = self._password
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **extra)
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from None
        async with conn:
            try:
                await conn.execute(
                    sql.SQL("LISTEN {}").format(sql.Identifier(channel(self.schema)))
                )
                yield ""
                async for note in conn.notifies():
                    yield note.payload
            except psycopg.OperationalError as exc:
                raise self._unreachable(exc) from None

    def workers(self) -> builtins.list[dict[str, Any]]:
        """The processes whose heartbeat is at most ten leases old, by host and pid."""
        rows = self._rows(
            "SELECT w.owner, w.host, w.pid, w.queues,"
            " (SELECT count(*) FROM tasks t WHERE t.owner = w.owner AND t.status = %s)"
            f" AS running, {_NOW} - w.heartbeat_at AS heartbeat_age FROM workers w"
            f" WHERE w.heartbeat_at > {_NOW} - %s ORDER BY w.host, w.pid",
            (TaskStatus.running.value, 10 * self.lease_seconds),
        )
        return [dict(row) for row in rows]

    # --- inbox messages between hosts (RelayingBackend) ----------------------------------------

    def register_sessions(self, owner: str, handles: Sequence[str]) -> None:
        """Record that the runtime ``owner`` holds ``handles`` (a handle names one session)."""
        with self._tx() as conn:
            conn.cursor().executemany(
                f"INSERT INTO sessions (handle, owner, created_at) VALUES (%s, %s, {_NOW})"
                " ON CONFLICT (handle) DO UPDATE SET owner = excluded.owner",
                [(handle, owner) for handle in handles],
            )

    def session_holder(self, handle: str) -> str | None:
        rows = self._rows("SELECT owner FROM sessions WHERE handle = %s", (handle,))
        return rows[0]["owner"] if rows else None

    def relay(self, handle: str, sender: str, message: str, key: str | None) -> bool:
        with self._tx() as conn:
            row = conn.execute(
                "INSERT INTO messages (handle, sender, message, key, created_at)"
                f" VALUES (%s, %s, %s, %s, {_NOW}) ON CONFLICT (key) DO NOTHING RETURNING id",
                (handle, sender, message, key),
            ).fetchone()
        return row is not None

    def relayed(self, handles: Sequence[str]) -> builtins.list[dict[str, Any]]:
        if not handles:
            return []
        rows = self._rows(
            "SELECT id, handle, sender, message FROM messages"
            " WHERE taken_at IS NULL AND handle = ANY(%s) ORDER BY id",
            ([*handles],),
        )
        return [dict(row) for row in rows]

    def mark_relayed(self, ids: Sequence[int]) -> None:
        with self._tx() as conn:
            conn.execute(
                f"UPDATE messages SET taken_at = {_NOW} WHERE id = ANY(%s) AND taken_at IS NULL",
                ([*ids],),
            )

    def retire(self, owner: str) -> None:
        """Take ``owner`` out of the workers table (it stopped in order)."""
        with self._tx() as conn:
            conn.execute("DELETE FROM workers WHERE owner = %s", (owner,))

    def recover(self, is_owner_alive: Callable[[str], bool]) -> Tasks:
        recovered = self._expire_leases()
        # Judge the owners outside the transaction: looking a process up may be slow.
        owners = self._rows(
            "SELECT DISTINCT owner FROM tasks WHERE status = %s", (TaskStatus.running.value,)
        )
        dead = [
            row["owner"] for row in owners if not row["owner"] or not is_owner_alive(row["owner"])
        ]
        if not dead:
            return recovered
        with self._tx() as conn:
            for owner in dead:
                rows = conn.execute(
                    "SELECT id FROM tasks WHERE status = %s AND owner IS NOT DISTINCT FROM %s"
                    " ORDER BY id",
                    (TaskStatus.running.value, owner),
                ).fetchall()
                for row in rows:
                    task = self._end(
                        conn,
                        row["id"],
                        TaskStatus.failed,
                        None,
                        INTERRUPTED,
                        None,
                        [TaskStatus.running.value],
                    )
                    if task is not None:
                        recovered.append(task)
        return recovered

    def _expire_leases(self) -> Tasks:
        """Fail the running tasks whose lease ran out, by the server's clock: once each."""
        ended: Tasks = []
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT id, owner FROM tasks WHERE status = %s AND lease_until < {_NOW}"
                " ORDER BY id FOR UPDATE SKIP LOCKED",
                (TaskStatus.running.value,),
            ).fetchall()
            for row in rows:
                reason = LEASE_EXPIRED.format(owner=row["owner"], lease=self.lease_seconds)
                task = self._end(
                    conn,
                    row["id"],
                    TaskStatus.failed,
                    None,
                    reason,
                    None,
                    [TaskStatus.running.value],
                )
                if task is not None:
                    ended.append(task)
        return ended

    def pending_callbacks(self, limit: int = 100) -> Tasks:
        rows = self._rows(
            "SELECT tasks.* FROM callbacks JOIN tasks ON tasks.id = callbacks.task_id"
            " WHERE callbacks.delivered_at IS NULL ORDER BY callbacks.task_id LIMIT %s",
            (limit,),
        )
        return [TaskRecord.from_row(row) for row in rows]

    def mark_callback_delivered(self, task_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                f"UPDATE callbacks SET delivered_at = {_NOW}"
                " WHERE task_id = %s AND delivered_at IS NULL",
                (task_id,),
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()
