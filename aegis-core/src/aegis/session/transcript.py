"""Session transcripts: canonical events as JSON lines, one atomic append per record.

Each record is written with a single ``write`` on a file opened with ``O_APPEND``,
so records never interleave and a crash can only tear the last line; the reader
skips a torn (or otherwise unreadable) line instead of losing the file.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aegis.events import Event, to_dict

log = logging.getLogger("aegis.session")

BATCH_WAIT_S = 0.02
"""How long the writer gathers records after the first of a batch before writing."""


def record(event: Event, seq: int, at: float | None = None) -> bytes:
    """One transcript line for ``event``, number ``seq`` of its session, made at ``at``."""
    data = {"seq": seq, "t": round(time.time() if at is None else at, 3), **to_dict(event)}
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


_Item = tuple[str, int, float, Event]


class TranscriptWriter:
    """Writes the transcripts of many sessions on one thread of its own.

    :meth:`put` is all the event loop does per event: it queues the event with its
    number and time. Making the record (``to_dict``, ``json.dumps``) and writing it
    happen on the writer's thread, in batches, so a turn's path pays neither the
    serialisation nor a hand-off to a worker thread per batch. Records of one
    session are written in the order they were put. :meth:`close` writes what is
    queued, then ends the thread; call it off the event loop (it joins the thread).
    """

    _STOP = None

    def __init__(self, path_for: Callable[[str], Path], batch_wait: float = BATCH_WAIT_S) -> None:
        self._path_for = path_for
        self._batch_wait = batch_wait
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._files: dict[str, TranscriptFile | None] = {}
        # A daemon thread: an interpreter torn down without close() must not hang on it.
        self._thread = threading.Thread(target=self._run, name="aegis-transcripts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, handle: str, seq: int, event: Event) -> None:
        """Queue ``event`` (number ``seq`` of session ``handle``) for its transcript."""
        self._queue.put((handle, seq, time.time(), event))

    def close(self) -> None:
        """Write everything queued so far, stop the thread and close the files."""
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join()
        for transcript in self._files.values():
            if transcript is not None:
                transcript.close()
        self._files.clear()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            # A moment's wait gathers a turn's events into one batch, one wake-up.
            time.sleep(self._batch_wait)
            batch: dict[str, list[bytes]] = {}
            stop = False
            item: _Item | None = first
            while item is not None:
                handle, seq, at, event = item
                batch.setdefault(handle, []).append(record(event, seq, at))
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            else:
                stop = True
            self._write(batch)
            if stop:
                return

    def _write(self, batch: dict[str, list[bytes]]) -> None:
        for handle, lines in batch.items():
            if handle not in self._files:
                try:
                    self._files[handle] = TranscriptFile(self._path_for(handle))
                except OSError:
                    log.exception("cannot open the transcript of %s: not recorded", handle)
                    self._files[handle] = None
            transcript = self._files[handle]
            if transcript is None:
                continue
            try:
                transcript.append(lines)
            except OSError:
                log.exception("cannot write the transcript of %s", handle)


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
