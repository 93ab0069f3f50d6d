"""Session transcripts: canonical events as JSON lines, one atomic append per record.

Each record is written with a single ``write`` on a file opened with ``O_APPEND``,
so records never interleave and a crash can only tear the last line; the reader
skips a torn (or otherwise unreadable) line instead of losing the file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aegis.events import Event, to_dict


def record(event: Event, seq: int) -> bytes:
    """One transcript line for ``event``."""
    data = {"seq": seq, "t": round(time.time(), 3), **to_dict(event)}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class TranscriptFile:
    """An append-only JSONL file of records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, lines: list[bytes]) -> None:
        """Write each line with one ``write`` call (each record stays whole)."""
        for line in lines:
            view = memoryview(line)
            while view:  # a regular file takes it all at once; loop only for safety
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a transcript, skipping lines that are torn or not JSON objects."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # a torn last line: the writer died mid-record
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            if isinstance(data, dict):
                yield data
