"""A queued task as stored by a queue backend: :class:`TaskRecord`, its status and its id."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol, TypeAlias

from aegis.events import Usage


class TaskStatus(str, Enum):
    """The life of a task: queued → running → done, failed or cancelled."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def ended(self) -> bool:
        """Whether the task is over (done, failed or cancelled); an ended task never changes."""
        return self in (TaskStatus.done, TaskStatus.failed, TaskStatus.cancelled)


ENDED: tuple[TaskStatus, ...] = (TaskStatus.done, TaskStatus.failed, TaskStatus.cancelled)


def require_ending(status: TaskStatus) -> None:
    """Refuse (``ValueError``) a status a task cannot end as: a backend's ``finish`` check."""
    if status not in ENDED:
        raise ValueError(f"a task ends as done, failed or cancelled, not {status.value}")


@dataclass(frozen=True)
class TaskRecord:
    """One task of a queue, as its backend stores it.

    ``sender`` is who enqueued it: ``"user"``, ``"agent:<handle>"``,
    ``"queue:<name>"`` or ``"workflow:<run id>"``. ``result`` is the worker's whole
    final assistant text of the turn (``TurnEnd.text``); ``error`` says why a task
    failed or was cancelled. Times are epoch seconds. ``owner`` names the aegis
    process that ran (or runs) it; ``attempt`` counts retries from 1 and
    ``retry_of`` points at the task this one retries.
    """

    id: str
    queue: str
    payload: str
    sender: str = "user"
    callback: bool = False
    status: TaskStatus = TaskStatus.queued
    result: str | None = None
    error: str | None = None
    usage: Usage | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    worker_handle: str | None = None
    owner: str | None = None
    attempt: int = 1
    retry_of: str | None = None
    workspace: dict[str, Any] | None = None
    """When the worker worked in a git worktree of its own: its ``branch``, ``folder``,
    ``base``, ``state`` and the diff ``stat`` of its changes (``"2 files changed, +5
    -1"``, once the worker has closed). Read from the worktree's record, not stored by
    the backend."""

    @property
    def callback_target(self) -> str | None:
        """The session handle a callback goes to: set when asked for by an ``agent:`` sender."""
        if self.callback and self.sender.startswith("agent:"):
            return self.sender.removeprefix("agent:")
        return None

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form (``aegis queue`` commands, the MCP plane, frontends)."""
        usage = None
        if self.usage is not None:
            usage = {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "cache_read_tokens": self.usage.cache_read_tokens,
                "cache_write_tokens": self.usage.cache_write_tokens,
                "cost_usd": self.usage.cost_usd,
            }
        return {
            "id": self.id,
            "queue": self.queue,
            "payload": self.payload,
            "sender": self.sender,
            "callback": self.callback,
            "status": self.status.value,
            "result": self.result,
            "error": self.error,
            "usage": usage,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "worker_handle": self.worker_handle,
            "owner": self.owner,
            "attempt": self.attempt,
            "retry_of": self.retry_of,
            "workspace": self.workspace,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskRecord:
        """The task of :meth:`as_dict`'s form (as the daemon's protocol carries it)."""
        usage = data.get("usage")
        return cls(
            id=data["id"],
            queue=data["queue"],
            payload=data["payload"],
            sender=data.get("sender", "user"),
            callback=bool(data.get("callback", False)),
            status=TaskStatus(data.get("status", "queued")),
            result=data.get("result"),
            error=data.get("error"),
            usage=Usage(**usage) if isinstance(usage, dict) else None,
            created_at=data.get("created_at", 0.0),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            worker_handle=data.get("worker_handle"),
            owner=data.get("owner"),
            attempt=data.get("attempt", 1),
            retry_of=data.get("retry_of"),
            workspace=data.get("workspace"),
        )

    @classmethod
    def from_row(cls, row: Row) -> TaskRecord:
        """The task of a database row with the backends' column names (a ``tasks`` row,
        from SQLite or PostgreSQL)."""
        usage = None
        if row["input_tokens"] is not None:
            usage = Usage(
                row["input_tokens"],
                row["output_tokens"],
                row["cache_read_tokens"],
                row["cache_write_tokens"],
                row["cost_usd"],
            )
        return cls(
            id=row["id"],
            queue=row["queue"],
            payload=row["payload"],
            sender=row["sender"],
            callback=bool(row["callback"]),
            status=TaskStatus(row["status"]),
            result=row["result"],
            error=row["error"],
            usage=usage,
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            worker_handle=row["worker_handle"],
            owner=row["owner"],
            attempt=row["attempt"],
            retry_of=row["retry_of"],
        )


class Row(Protocol):
    """A database row read by column name (``sqlite3.Row``, a psycopg ``dict_row``)."""

    def __getitem__(self, column: str, /) -> Any: ...


Tasks: TypeAlias = list[TaskRecord]
"""A list of tasks (named: backends have a method called ``list``)."""


# --- ids ----------------------------------------------------------------------------------
#
# An id is 16 characters of lower-case Crockford base32, whose alphabet is in ASCII
# order, so that comparing ids as strings compares the numbers they encode:
#   9 characters: milliseconds since the epoch (enough until the year 3000)
#   2 characters: a counter, for ids made in the same millisecond
#   5 characters: random, so that two processes (or hosts) never make the same id
# A process's ids strictly increase; a backend that can see the largest id so far
# passes it as ``after`` to keep the order across processes too.

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_TIME_CHARS, _COUNTER_CHARS, _RANDOM_CHARS = 9, 2, 5
ID_LENGTH = _TIME_CHARS + _COUNTER_CHARS + _RANDOM_CHARS
_COUNTER_MAX = len(ALPHABET) ** _COUNTER_CHARS
_id_lock = threading.Lock()
_last: tuple[int, int] = (0, 0)


def _encode(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def _decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * len(ALPHABET) + ALPHABET.index(char)
    return number


def new_task_id(after: str | None = None) -> str:
    """A new task id, greater than every id this process made before and than ``after``.

    Ids sort in creation order as plain strings, and are unique across processes.
    """
    global _last
    with _id_lock:
        stamp = (int(time.time() * 1000), 0)
        floors = [_last]
        if after is not None and len(after) == ID_LENGTH and all(c in ALPHABET for c in after):
            floors.append(
                (_decode(after[:_TIME_CHARS]), _decode(after[_TIME_CHARS:-_RANDOM_CHARS]))
            )
        floor = max(floors)
        if stamp <= floor:  # same millisecond (or a clock that went back): count on
            millis, counter = floor[0], floor[1] + 1
            if counter >= _COUNTER_MAX:
                millis, counter = millis + 1, 0
            stamp = (millis, counter)
        _last = stamp
    random_part = int.from_bytes(os.urandom(4), "big") % (len(ALPHABET) ** _RANDOM_CHARS)
    return (
        _encode(stamp[0], _TIME_CHARS)
        + _encode(stamp[1], _COUNTER_CHARS)
        + _encode(random_part, _RANDOM_CHARS)
    )
