"""The record of a workflow run, as kept in ``.aegis/workflows/<run id>.json``.

Apart from the runner so that a client showing runs (``aegis workflow run`` through
the daemon, the TUI) reads them without importing the engine and the plugin host.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from aegis.private_files import private_dir
from aegis.queue.owner import is_owner_alive

STALE_RUN = "interrupted: the aegis process running this workflow stopped without ending it"
"""The error of a run found ``running`` after its process died (:meth:`WorkflowRunner.recover`)."""


class RunStatus(str, Enum):
    running = "running"
    ok = "ok"
    failed = "failed"
    crashed = "crashed"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> int:
        """0 ok, 1 failed (WorkflowError), 2 crashed; what ``aegis workflow run`` exits with."""
        return {RunStatus.ok: 0, RunStatus.failed: 1}.get(self, 2)


@dataclass
class RunRecord:
    """What a workflow run did: kept on disk, shown by ``aegis workflow show``."""

    id: str
    workflow: str
    arguments: dict[str, Any]
    status: RunStatus = RunStatus.running
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    log: list[tuple[str, str]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    caller_handle: str | None = None
    owner: str | None = None
    """The process running it (``"<host>:<pid>:<start time>"``); ``None`` in old records."""
    checkpoints: dict[str, Any] = field(default_factory=dict)
    """``{name: payload}`` of each :meth:`WorkflowEngine.checkpoint`, in order."""
    attempt: int = 1
    """1 for the first run; each ``aegis workflow resume`` adds one."""

    @property
    def resumable(self) -> bool:
        """Whether ``aegis workflow resume`` may continue it: it failed, crashed or was
        cancelled (a run that is ``ok`` or still running is not)."""
        return self.status in (RunStatus.failed, RunStatus.crashed) or self.interrupted

    @property
    def interrupted(self) -> bool:
        """Whether it says ``running`` though the process running it is gone (``kill -9``:
        :meth:`WorkflowRunner.recover` has not ended it yet)."""
        return (
            self.status is RunStatus.running
            and self.owner is not None
            and not is_owner_alive(self.owner)
        )

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["log"] = [list(line) for line in self.log]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        values = dict(data)
        values["status"] = RunStatus(values["status"])
        values["log"] = [tuple(line) for line in values.get("log", [])]
        return cls(**values)


RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""What a run id may look like (it names a file: no separator, no leading dot)."""


def load_run(state_dir: Path, run_id: str) -> RunRecord | None:
    """The record of run ``run_id`` (``None``: no such run, or its record is unreadable).

    Blocking (it reads a file): call it off the event loop.
    """
    if not RUN_ID.fullmatch(run_id):
        return None
    try:
        data = json.loads((state_dir / "workflows" / f"{run_id}.json").read_text())
        return RunRecord.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_runs(state_dir: Path) -> list[RunRecord]:
    """Every run record of a project, oldest first (unreadable records are skipped)."""
    runs_dir = state_dir / "workflows"
    records = []
    for path in sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []:
        try:
            records.append(RunRecord.from_dict(json.loads(path.read_text())))
        except (ValueError, KeyError, TypeError):
            continue
    records.sort(key=lambda r: r.started_at)
    return records


@contextmanager
def records_locked(state_dir: Path) -> Iterator[None]:
    """Hold the project's lock on its run records (an exclusive ``flock`` on the
    ``workflows`` folder) for a read-check-write of one, such as claiming a run to
    resume it: two processes (the daemon and an ``aegis --no-daemon`` command) must
    not both find a failed run and both resume it.

    Blocking (it may wait for another process's few milliseconds): call it off the
    event loop. The kernel drops the lock when its holder dies.
    """
    fd = os.open(private_dir(state_dir / "workflows"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # which lets the lock go
