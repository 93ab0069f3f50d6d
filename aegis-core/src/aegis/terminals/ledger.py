"""A terminal's ledger: every command it ran, kept as JSON lines under ``.aegis/terminals/``.

Each command writes a ``start`` line when it starts and an ``end`` line when it ends;
:func:`read_ledger` merges them into :class:`CommandRecord` items by ``seq``. A
command whose ``end`` never came (aegis was killed while it ran) is marked
``interrupted`` by :func:`mark_interrupted` when the terminals start again.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Status = Literal["running", "done", "interrupted", "exited"]


@dataclass
class CommandRecord:
    """One command of a terminal.

    ``by``: who ran it (an agent's handle, ``user``, ``workflow:<run>``). ``exit``: its
    exit status (``None`` while it runs, when the shell has no integration, or when it
    did not end). ``status``: ``running``; ``done``; ``interrupted`` (aegis stopped
    while it ran); ``exited`` (the shell ended while it ran). ``output``: its output as
    text, the head and tail when it was long.
    """

    seq: int
    command: str
    by: str
    started_at: float
    ended_at: float | None = None
    exit: int | None = None
    status: Status = "running"
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CommandRecord:
        """A record from :meth:`to_dict`'s data."""
        fields = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in fields})


def ledger_path(directory: Path, name: str) -> Path:
    """Where terminal ``name`` keeps its ledger."""
    return directory / f"{name}.jsonl"


def append(path: Path, event: str, record: CommandRecord) -> None:
    """Add a ``start`` or ``end`` line for ``record``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps({"event": event, **record.to_dict()}) + "\n")


def read_ledger(path: Path) -> list[CommandRecord]:
    """The commands of a ledger, in order; a torn last line is skipped."""
    records: dict[int, CommandRecord] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
                records[int(data["seq"])] = CommandRecord.from_dict(data)
            except (ValueError, KeyError, TypeError):
                continue
    return [records[seq] for seq in sorted(records)]


def mark_interrupted(path: Path, reason: str = "aegis stopped while it ran") -> list[int]:
    """End every command of the ledger still ``running`` as ``interrupted``; their seqs."""
    ended = []
    for record in read_ledger(path):
        if record.status == "running":
            record.status = "interrupted"
            record.ended_at = time.time()
            record.output = (record.output + f"\n[{reason}]").lstrip("\n")
            append(path, "end", record)
            ended.append(record.seq)
    return ended
