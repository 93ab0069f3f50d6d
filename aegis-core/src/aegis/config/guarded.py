"""Executing ``.aegis.py`` so that nothing it does at load time can make aegis lie.

``.aegis.py`` is ordinary Python, run while a command starts. Left alone, a line in
it could make that command report something false or never finish:

* ``sys.exit(0)`` (any ``SystemExit``) would end ``aegis config check`` with status
  0 and no output, a false "ok";
* ``print()`` would write into stdout, in the middle of ``--json`` output;
* ``raise KeyboardInterrupt`` would look like the user's Ctrl+C ("Aborted!");
* a loop that never ends would hang the command;
* a thread it starts and leaves running would keep the process alive after the
  command is done.

:func:`execute_guarded` runs the code so that each of these becomes an exception
the loader turns into a :class:`~aegis.errors.ConfigError` with the file and line:
``SystemExit`` and ``KeyboardInterrupt`` are caught like any other exception;
stdout is sent to stderr while the file runs (Python's ``sys.stdout`` and file
descriptor 1, so ``os.system("echo")`` is caught too); a deadline
(:data:`LOAD_TIMEOUT_ENV`, default :data:`DEFAULT_LOAD_TIMEOUT` seconds) stops it;
threads it starts are made daemon threads and reported if still running.

How the deadline stops the file: on the main thread, a ``SIGALRM`` timer whose
handler raises :class:`LoadTimeout` — this interrupts pure-Python loops and
blocking calls such as ``time.sleep`` alike, and repeats every half second in case
the file swallows it. Elsewhere (signals reach only the main thread) a trace
function on the file's own frames raises it at the next line the file runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

LOAD_TIMEOUT_ENV = "AEGIS_LOAD_TIMEOUT"
"""Seconds ``.aegis.py`` may take to load (``0``: no limit)."""
DEFAULT_LOAD_TIMEOUT = 30.0
_REPEAT = 0.5  # seconds between further alarms if the file swallows the first


class LoadTimeout(BaseException):
    """Raised inside ``.aegis.py`` when its deadline passes.

    A ``BaseException``, so that the file's own ``except Exception`` does not take it.
    """


@dataclass
class Outcome:
    """What happened while the file ran, beyond the exception it may have raised.

    Pass one in to :func:`execute_guarded` to read it when the file raised too.
    """

    timed_out: bool = False
    timeout_line: int | None = None
    """The file's line running when the deadline passed."""
    threads: list[tuple[threading.Thread, int | None]] = field(default_factory=list)
    """Threads the file started that still run, with the line that started each."""


def load_timeout(value: float | None = None) -> float:
    """The deadline in seconds: ``value``, else :data:`LOAD_TIMEOUT_ENV`, else the default.

    ``0`` or less means no deadline. A malformed variable is a ``ValueError``
    naming it.
    """
    if value is None:
        raw = os.environ.get(LOAD_TIMEOUT_ENV, "").strip()
        if not raw:
            return DEFAULT_LOAD_TIMEOUT
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(
                f"{LOAD_TIMEOUT_ENV}={raw!r} is not a number of seconds (0 for no limit)"
            ) from None
    return value if value > 0 and math.isfinite(value) else math.inf


def execute_guarded(
    code: CodeType,
    namespace: dict[str, Any],
    path: Path,
    timeout: float,
    outcome: Outcome | None = None,
) -> Outcome:
    """Run ``code`` (compiled from ``path``) in ``namespace`` under the guards above.

    Exceptions from the file, ``SystemExit`` and ``KeyboardInterrupt`` included,
    propagate to the caller. When the deadline passed, :class:`LoadTimeout` is
    raised, even if the file caught the one raised inside it.
    """
    outcome = outcome if outcome is not None else Outcome()
    with _stdout_to_stderr(), _threads_watched(path, outcome), _deadline(timeout, path, outcome):
        exec(code, namespace)
    if outcome.timed_out:  # the file swallowed it, and then ended
        raise LoadTimeout
    return outcome


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what is written to stdout, by Python or by a child process, to stderr."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    saved: int | None = None
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no usable descriptor 1 or 2: Python's streams are enough
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _line_of(frame: FrameType | None, path: Path) -> int | None:
    """The line of ``path`` in the stack that ends at ``frame`` (the innermost one)."""
    name = str(path)
    while frame is not None:
        if frame.f_code.co_filename == name:
            return frame.f_lineno
        frame = frame.f_back
    return None


@contextlib.contextmanager
def _threads_watched(path: Path, outcome: Outcome) -> Iterator[None]:
    """Make the threads the file starts daemon threads, and note those still running."""
    loader = threading.get_ident()
    original = threading.Thread.start
    started: list[tuple[threading.Thread, int | None]] = []

    def start(self: threading.Thread) -> None:
        if threading.get_ident() == loader:
            # Before it starts: a thread left running must not keep aegis alive.
            self.daemon = True
            started.append((self, _line_of(sys._getframe(1), path)))
        original(self)

    threading.Thread.start = start  # type: ignore[method-assign]
    try:
        yield
    finally:
        threading.Thread.start = original  # type: ignore[method-assign]
        outcome.threads = [(t, line) for t, line in started if t.is_alive()]


@contextlib.contextmanager
def _deadline(timeout: float, path: Path, outcome: Outcome) -> Iterator[None]:
    if not math.isfinite(timeout):
        yield
        return
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        with _alarm(timeout, path, outcome):
            yield
    else:
        with _traced(timeout, path, outcome):
            yield


def _timed_out(outcome: Outcome, frame: FrameType | None, path: Path) -> None:
    if not outcome.timed_out:
        outcome.timed_out = True
        outcome.timeout_line = _line_of(frame, path)


@contextlib.contextmanager
def _alarm(timeout: float, path: Path, outcome: Outcome) -> Iterator[None]:
    def ring(signum: int, frame: FrameType | None) -> None:
        _timed_out(outcome, frame, path)
        raise LoadTimeout

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, timeout, _REPEAT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _traced(timeout: float, path: Path, outcome: Outcome) -> Iterator[None]:
    import time

    deadline = time.monotonic() + timeout
    name = str(path)

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if time.monotonic() >= deadline:
            _timed_out(outcome, frame, path)
            raise LoadTimeout
        return local

    def scope(frame: FrameType, event: str, arg: object) -> Any:
        # Only the file's own frames are traced: imports stay fast. By opcode, not
        # by line: a one-line loop (`while True: pass`) makes no new line events.
        if frame.f_code.co_filename != name:
            return None
        frame.f_trace_opcodes = True
        return local

    previous = sys.gettrace()
    sys.settrace(scope)
    try:
        yield
    finally:
        sys.settrace(previous)
