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
from aegis.private_files import open_private, private_dir
from aegis.text import clean_text

log = logging.getLogger("aegis.session")

QUIET_S = 0.05
"""The writer writes a batch once no event has come for this long (seconds)..."""
MAX_LAG_S = 1.0
"""...or this long after the batch's first event, whichever comes first."""


def record(event: Event, seq: int, at: float | None = None) -> bytes:
    """One transcript line for ``event``, number ``seq`` of its session, made at ``at``."""
    data = {"seq": seq, "t": round(time.time() if at is None else at, 3), **to_dict(event)}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate that got past the cleaning where text enters: keep the
        # record, with U+FFFD in its place.
        return clean_text(text).encode() + b"\n"


class TranscriptFile:
    """An append-only JSONL file of records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        self._fd = open_private(path)

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
    number and time. Making the records (``to_dict``, ``json.dumps``) and writing
    them happen on the writer's thread, in batches taken in a quiet moment: once no
    event has come for ``quiet`` seconds, or ``max_lag`` seconds after the first
    event of the batch at the latest. So a streaming turn pays neither the
    serialisation nor a thread hand-off per event, and a crash loses at most the
    last ``max_lag`` seconds. Records of one session are written in the order they
    were put. :meth:`flush` and :meth:`close` block: call them off the event loop.
    """

    def __init__(
        self,
        path_for: Callable[[str], Path],
        *,
        quiet: float = QUIET_S,
        max_lag: float = MAX_LAG_S,
    ) -> None:
        self._path_for = path_for
        self._quiet = quiet
        self._max_lag = max_lag
        self._queue: queue.SimpleQueue[_Item | threading.Event | None] = queue.SimpleQueue()
        self._files: dict[str, TranscriptFile | None] = {}
        self._urgent = threading.Event()
        """Set by flush() and close(): the writer stops waiting for a quiet moment."""
        # A daemon thread: an interpreter torn down without close() must not hang on it.
        self._thread = threading.Thread(target=self._run, name="aegis-transcripts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, handle: str, seq: int, event: Event) -> None:
        """Queue ``event`` (number ``seq`` of session ``handle``) for its transcript."""
        self._queue.put((handle, seq, time.time(), event))

    def flush(self) -> None:
        """Return once everything put so far is written."""
        if self._thread.is_alive():
            done = threading.Event()
            self._queue.put(done)
            self._urgent.set()
            done.wait()

    def close(self) -> None:
        """Write everything queued so far, stop the thread and close the files."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._urgent.set()
            self._thread.join()
        for transcript in self._files.values():
            if transcript is not None:
                transcript.close()
        self._files.clear()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            deadline = time.monotonic() + self._max_lag
            while not isinstance(items[-1], threading.Event | None):
                # Gather until the events pause (a turn's end, a model thinking): the
                # records are made then, not while a turn streams.
                self._urgent.wait(self._quiet)
                count = len(items)
                while not isinstance(items[-1], threading.Event | None):
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if isinstance(items[-1], tuple) and self._urgent.is_set():
                    # Set by a flush whose marker an earlier batch took: spinning on it
                    # would burn a core; a marker still to come is found within `quiet`.
                    self._urgent.clear()
                if len(items) == count or time.monotonic() >= deadline:
                    break
            last = items[-1]
            if not isinstance(last, tuple):
                self._urgent.clear()  # its marker is in hand; a later flush sets it again
            try:
                self._write([item for item in items if isinstance(item, tuple)])
            except Exception:  # a last resort: the thread must outlive any batch
                log.exception("a batch of transcript records was lost")
            if last is None:
                return
            if isinstance(last, threading.Event):
                last.set()

    def _write(self, items: list[_Item]) -> None:
        batch: dict[str, list[bytes]] = {}
        for handle, seq, at, event in items:
            try:
                line = record(event, seq, at)
            except Exception:
                # One record that cannot be made must not stop the thread that
                # writes every session's transcript.
                log.exception("record %d of %s's transcript dropped", seq, handle)
                continue
            batch.setdefault(handle, []).append(line)
            # Let the event loop's thread have the GIL between records: otherwise it
            # may wait up to the interpreter's switch interval (5 ms) for the batch.
            time.sleep(0)
        self._append(batch)

    def _append(self, batch: dict[str, list[bytes]]) -> None:
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
            except (ValueError, RecursionError):
                continue  # not JSON, or nested too deeply to read back
            if isinstance(data, dict):
                yield data


TAIL_BYTES = 64 * 1024
"""How much of a transcript's end :func:`last_seq` reads (records are far shorter)."""


def last_seq(path: Path) -> int:
    """The number of the last whole record of the transcript at ``path`` (0: none).

    A session resumed under its earlier handle numbers its events on from there, so
    that the transcript (and a subscription from any number) never holds a number
    twice. Reads the file's end only; blocks: call it from a worker thread.
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return 0
    with handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(size - TAIL_BYTES, 0))
        lines = handle.read().split(b"\n")[:-1]  # the part after the last newline is torn
    for raw in reversed(lines):
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue  # a torn line, or the first (partial) line of the tail
        if isinstance(data, dict) and isinstance(data.get("seq"), int):
            return int(data["seq"])
    return 0
