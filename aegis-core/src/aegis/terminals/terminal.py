"""One shared terminal: a shell in a pseudo-terminal that agents and people use together.

Its output is read on the event loop, without a thread: the PTY's master side is
non-blocking and the reader waits with :func:`anyio.wait_readable`, so stopping
never waits for a blocked read. What it keeps is bounded whatever the shell
prints: the last :data:`MAX_LINES` lines as text, the last :data:`REPLAY_BYTES`
bytes for a viewer that attaches, and of each command its first and last
:data:`OUTPUT_HEAD` / :data:`OUTPUT_TAIL` bytes.
"""

from __future__ import annotations

import codecs
import contextlib
import math
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from aegis.process import TAG_VARIABLE, forget_group, kill_group, kill_tagged, reaped_at_exit
from aegis.terminals import ledger
from aegis.terminals.ledger import CommandRecord
from aegis.terminals.marks import Mark, MarkParser, plain_lines, plain_text

MAX_LINES = 5000
"""Lines of text a terminal keeps (older ones are dropped)."""
MAX_LINE_CHARS = 4000
"""A longer line is kept cut to this length."""
REPLAY_BYTES = 256 * 1024
"""Raw output kept for a viewer that attaches (to draw the screen as it stands)."""
OUTPUT_HEAD = 16 * 1024
OUTPUT_TAIL = 16 * 1024
"""Of a command's output, the first and last bytes kept (in the ledger and a run's result)."""
RECENT = 50
"""Ended commands kept in memory (the ledger on disk has them all)."""
VIEWER_BUFFER = 1024
"""Chunks a viewer may lag behind; a slower one is disconnected (it can attach again)."""
START_TIMEOUT_S = 10.0
"""How long a run waits for the first prompt of a shell that was just started."""
QUIET_S = 0.5
"""Without shell integration, a command is taken as done once output stops this long."""

_MAX_INPUT = 4096
_KEYS = {
    "enter": b"\r",
    "tab": b"\t",
    "shift+tab": b"\x1b[Z",
    "esc": b"\x1b",
    "escape": b"\x1b",
    "backspace": b"\x7f",
    "space": b" ",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "right": b"\x1b[C",
    "left": b"\x1b[D",
    "home": b"\x1b[H",
    "end": b"\x1b[F",
    "delete": b"\x1b[3~",
    "insert": b"\x1b[2~",
    "pageup": b"\x1b[5~",
    "pagedown": b"\x1b[6~",
}


class TerminalError(Exception):
    """A terminal cannot do what was asked; the message says why and what would work."""


class UnknownTerminal(TerminalError, LookupError):
    """No terminal has that name."""


class TerminalBusy(TerminalError):
    """The terminal is running a command already."""


def key_bytes(name: str) -> bytes:
    """The bytes a key sends: ``enter``, ``tab``, ``esc``, ``up``..., ``ctrl+c``."""
    key = name.strip().lower().replace("-", "+")
    if key.startswith(("ctrl+", "c+")):
        letter = key.split("+", 1)[1]
        if len(letter) == 1 and ("a" <= letter <= "z" or letter in "[\\]^_@"):
            return bytes([ord(letter.upper()) & 0x1F])
    if key in _KEYS:
        return _KEYS[key]
    known = ", ".join([*_KEYS, "ctrl+a..ctrl+z"])
    raise TerminalError(f"unknown key {name!r}; keys are {known}")


@dataclass(frozen=True)
class RunResult:
    """What became of :meth:`Terminal.run`.

    ``status``: ``done`` (it ended: ``exit`` is its status, ``None`` without shell
    integration), ``timeout`` (still running when the timeout came; it goes on, see
    :meth:`Terminal.read`) or ``exited`` (the shell ended).
    """

    seq: int
    command: str
    status: Literal["done", "timeout", "exited"]
    exit: int | None
    output: str
    duration: float


class Terminal:
    """A named shell in a PTY; made by :class:`~aegis.terminals.TerminalRegistry`."""

    def __init__(
        self,
        name: str,
        process: Any,
        *,
        shell: str,
        cwd: Path,
        tag: str,
        integrated: bool,
        ledger_file: Path,
        next_seq: int,
        on_command_end: Callable[[Terminal, CommandRecord], None],
        created_by: str,
        rows: int,
        cols: int,
    ) -> None:
        self.name = name
        self.shell = shell
        self.cwd = cwd
        self.created_by = created_by
        self.created_at = time.time()
        self.id = uuid.uuid4().hex[:12]
        """Tells this terminal from an earlier one of the same name (keys its wake-ups)."""
        self.rows, self.cols = rows, cols
        self.subscribers: set[str] = set()
        """Handles told when a command ends (not the one who ran it)."""
        self.integration = integrated
        """Whether the shell should write OSC 133 marks (bash, zsh)."""
        self._process = process
        self._fd: int = process.fd
        self._tag = tag
        self._ledger = ledger_file
        self._next_seq = next_seq
        self._on_end = on_command_end
        self._parser = MarkParser()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines: deque[str] = deque(maxlen=MAX_LINES)
        self._partial = ""
        self._replay = bytearray()
        self._viewers: set[MemoryObjectSendStream[bytes]] = set()
        self._phase: Literal["starting", "prompt", "running", "exited"] = "starting"
        self._marked = False
        self._input = bytearray()
        self._current: CommandRecord | None = None
        self._recent: dict[int, CommandRecord] = {}
        """The last :data:`RECENT` commands that ended, by seq."""
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0
        self._pending: _Pending | None = None
        self._last_writer = created_by
        self._last_output = anyio.current_time()
        self._changed = anyio.Event()
        self._write_lock = anyio.Lock()
        self._run_lock = anyio.Lock()
        self._ledger_send, self._ledger_receive = anyio.create_memory_object_stream[
            tuple[str, CommandRecord]
        ](math.inf)
        self.exit_status: int | None = None
        reaped_at_exit(process.pid, tag)

    # --- what it is -----------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The shell's process id (it leads its own session and process group)."""
        return int(self._process.pid)

    @property
    def alive(self) -> bool:
        """Whether the shell still runs."""
        return self._phase != "exited"

    @property
    def busy(self) -> bool:
        """Whether a command runs (as far as the marks tell)."""
        return self._current is not None

    @property
    def integrated(self) -> bool:
        """Whether the shell writes the marks aegis injects (exit statuses are known)."""
        return self.integration and self._marked

    @property
    def current(self) -> CommandRecord | None:
        """The command running now, if any."""
        return self._current

    @property
    def last_seq(self) -> int:
        """The seq of the latest command (0: none yet)."""
        return self._next_seq - 1

    def lines(self, count: int = 50) -> list[str]:
        """The last ``count`` lines of output as text (the line being written included)."""
        tail = list(self._lines)[-count:] if count > 0 else []
        if self._partial:
            tail = [*tail, *plain_lines(self._partial)][-count:]
        return tail

    async def commands(self, since: int = 0) -> list[CommandRecord]:
        """The commands after seq ``since`` (the ledger's, then the one running)."""
        known = await anyio.to_thread.run_sync(ledger.read_ledger, self._ledger)
        by_seq = {r.seq: r for r in known if r.seq > since}
        # The latest ones as they stand here: their end may not be on disk yet.
        by_seq.update((seq, r) for seq, r in self._recent.items() if seq > since)
        if self._current is not None:
            by_seq[self._current.seq] = self._current_snapshot()
        return [by_seq[seq] for seq in sorted(by_seq)]

    def _current_snapshot(self) -> CommandRecord:
        assert self._current is not None
        current = self._current
        return CommandRecord(**{**current.to_dict(), "output": self._captured()})

    # --- reading ----------------------------------------------------------------------------

    async def pump(self) -> None:
        """Read the shell's output until it exits (the registry runs it in its task group)."""
        os.set_blocking(self._fd, False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._write_ledger)
            try:
                while True:
                    try:
                        await anyio.wait_readable(self._fd)
                    except (OSError, anyio.ClosedResourceError):
                        break
                    try:
                        data = os.read(self._fd, 65536)
                    except BlockingIOError:
                        continue
                    except OSError:  # EIO: the shell and everything on the PTY are gone
                        break
                    if not data:
                        break
                    self._feed(data)
            finally:
                self._exited()
                self._ledger_send.close()
                # Closed through ptyprocess's own file object, so that it never closes
                # the descriptor again (its finaliser would, and may hit a reused one).
                with contextlib.suppress(OSError):
                    self._process.fileobj.close()
                self._process.closed = True

    def _feed(self, data: bytes) -> None:
        self._last_output = anyio.current_time()
        self._replay += data
        if len(self._replay) > 2 * REPLAY_BYTES:
            del self._replay[: len(self._replay) - REPLAY_BYTES]
        for viewer in list(self._viewers):
            try:
                viewer.send_nowait(data)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._viewers.discard(viewer)
                viewer.close()
        for item in self._parser.feed(data):
            if isinstance(item, Mark):
                self._mark(item)
            else:
                self._text(item)
        self._pulse()

    def _text(self, data: bytes) -> None:
        text = self._partial + self._decoder.decode(data)
        *complete, self._partial = text.split("\n")
        for raw in complete:
            self._lines.extend(line[:MAX_LINE_CHARS] for line in plain_lines(raw))
        if len(self._partial) > MAX_LINE_CHARS * 4:
            self._lines.extend(line[:MAX_LINE_CHARS] for line in plain_lines(self._partial))
            self._partial = ""
        if self._phase == "prompt" and len(self._input) < _MAX_INPUT:
            self._input += data[: _MAX_INPUT - len(self._input)]
        if self._current is not None:
            self._capture(data)

    def _capture(self, data: bytes) -> None:
        self._total += len(data)
        room = OUTPUT_HEAD - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > 2 * OUTPUT_TAIL:
                del self._tail[: len(self._tail) - OUTPUT_TAIL]

    def _captured(self) -> str:
        tail = bytes(self._tail[-OUTPUT_TAIL:])
        cut = self._total - len(self._head) - len(tail)
        if cut <= 0:
            return _trimmed(plain_text(bytes(self._head) + tail))
        text = (
            f"{plain_text(bytes(self._head)).rstrip()}\n[... {cut} bytes cut ...]\n"
            f"{plain_text(tail).lstrip()}"
        ).strip("\n")
        return _trimmed(text)

    def _mark(self, mark: Mark) -> None:
        self._marked = True
        if mark.kind in ("A", "B"):
            if mark.kind == "B":
                self._phase = "prompt"
                self._input.clear()
            return
        if mark.kind == "C":
            self._phase = "running"
            pending, self._pending = self._pending, None
            if pending is not None:
                pending.record = self._start(pending.command, pending.by)
            else:
                self._start(plain_text(bytes(self._input)).strip(), self._last_writer)
            return
        # D: the command ended (a D with no command before it is the first prompt's).
        if self._current is not None:
            self._end("done", mark.exit)
        self._phase = "prompt"

    def _start(self, command: str, by: str) -> CommandRecord:
        record = CommandRecord(seq=self._next_seq, command=command, by=by, started_at=time.time())
        self._next_seq += 1
        self._current = record
        self._head.clear()
        self._tail.clear()
        self._total = 0
        self._ledger_send.send_nowait(("start", CommandRecord(**record.to_dict())))
        return record

    def _end(self, status: ledger.Status, exit_status: int | None) -> None:
        record = self._current
        if record is None:
            return
        self._current = None
        record.status = status
        record.exit = exit_status
        record.ended_at = time.time()
        record.output = self._captured()
        self._recent[record.seq] = record
        if len(self._recent) > RECENT:
            del self._recent[min(self._recent)]
        with contextlib.suppress(anyio.ClosedResourceError):
            self._ledger_send.send_nowait(("end", CommandRecord(**record.to_dict())))
        if record.command:
            self._on_end(self, record)

    def _exited(self) -> None:
        if self._phase == "exited":
            return
        if self._current is not None:
            self._end("exited", None)
        self._phase = "exited"
        for viewer in self._viewers:
            viewer.close()
        self._viewers.clear()
        self._pulse()

    async def _write_ledger(self) -> None:
        async with self._ledger_receive:
            async for event, record in self._ledger_receive:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(ledger.append, self._ledger, event, record)

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _wait_change(self, deadline: float) -> bool:
        with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as scope:
            await self._changed.wait()
        return not scope.cancel_called

    # --- writing ----------------------------------------------------------------------------

    async def write(self, data: bytes, by: str) -> None:
        """Type ``data`` into the terminal as ``by`` (a command it starts is theirs)."""
        if not self.alive:
            raise TerminalError(f"terminal {self.name}: its shell has exited; close it")
        self._last_writer = by
        async with self._write_lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self._fd, view)
                except BlockingIOError:
                    await anyio.wait_writable(self._fd)
                    continue
                except OSError as exc:
                    raise TerminalError(f"terminal {self.name}: {exc}") from None
                view = view[written:]

    async def keys(self, text: str, press: list[str], by: str) -> None:
        """Type ``text``, then press the named keys (``ctrl+c``, ``enter``, ``up`` ...)."""
        data = text.encode() + b"".join(key_bytes(key) for key in press)
        if data:
            await self.write(data, by)

    def resize(self, rows: int, cols: int) -> None:
        """Size the PTY (whoever views it sets it; the shell and its programs get SIGWINCH)."""
        rows, cols = max(2, min(rows, 1000)), max(10, min(cols, 1000))
        if (rows, cols) != (self.rows, self.cols) and self.alive:
            self.rows, self.cols = rows, cols
            with contextlib.suppress(OSError):
                self._process.setwinsize(rows, cols)

    async def run(self, command: str, by: str, timeout: float) -> RunResult:
        """Run one command line as ``by`` and wait up to ``timeout`` seconds for its end."""
        command = command.strip()
        if not command:
            raise TerminalError("the command is empty")
        if "\n" in command or "\r" in command:
            raise TerminalError(
                "give one command line; chain commands with && or ;, or write a script file"
            )
        if self._run_lock.locked() or self._current is not None:
            raise TerminalBusy(self._busy_text())
        deadline = anyio.current_time() + timeout
        async with self._run_lock:
            if self._phase == "starting" and self.integration:
                start_by = anyio.current_time() + START_TIMEOUT_S
                while self._phase == "starting" and await self._wait_change(start_by):
                    pass
            if not self.alive:
                raise TerminalError(f"terminal {self.name}: its shell has exited; close it")
            if self._current is not None:
                raise TerminalBusy(self._busy_text())
            if self.integrated:
                return await self._run_marked(command, by, deadline)
            return await self._run_unmarked(command, by, deadline)

    def _busy_text(self) -> str:
        current = self._current
        what = f"#{current.seq} `{current.command}` by {current.by}" if current else "a command"
        return (
            f"terminal {self.name} is running {what}; wait for it (aegis_term_read), "
            "interrupt it (aegis_term_keys with ctrl+c), or use another terminal"
        )

    async def _run_marked(self, command: str, by: str, deadline: float) -> RunResult:
        started = anyio.current_time()
        pending = self._pending = _Pending(command, by)
        await self.write(command.encode() + b"\r", by)
        while True:
            record = pending.record
            seq = record.seq if record is not None else self._next_seq
            if record is not None and record.status != "running":
                status: Literal["done", "exited"] = (
                    "exited" if record.status == "exited" else "done"
                )
                ended = record.ended_at or time.time()
                return RunResult(
                    seq, command, status, record.exit, record.output, ended - record.started_at
                )
            if not self.alive:
                return RunResult(seq, command, "exited", None, "", anyio.current_time() - started)
            if not await self._wait_change(deadline):
                if self._pending is pending:
                    self._pending = None
                output = self._captured() if self._current is record is not None else ""
                return RunResult(
                    seq, command, "timeout", None, output, anyio.current_time() - started
                )

    async def _run_unmarked(self, command: str, by: str, deadline: float) -> RunResult:
        # No marks: the command is recorded here, and taken as done when output stops.
        started = anyio.current_time()
        self._start(command, by)
        seq = self._next_seq - 1
        await self.write(command.encode() + b"\r", by)
        self._last_output = anyio.current_time()  # quiet from now on, not from before
        while self.alive:
            now = anyio.current_time()
            quiet_at = self._last_output + QUIET_S
            if now >= quiet_at or now >= deadline:
                break
            await self._wait_change(min(quiet_at, deadline))
        output = self._captured()
        # The echo of the command line is part of the output here: leave it out.
        first, _, rest = output.partition("\n")
        if command in first:
            output = rest
        # Ended here even at the timeout: without marks, nothing would ever end it.
        self._end("done", None)
        took = anyio.current_time() - started
        if not self.alive:
            return RunResult(seq, command, "exited", None, output, took)
        if anyio.current_time() >= deadline:
            return RunResult(seq, command, "timeout", None, output, took)
        return RunResult(seq, command, "done", None, output, took)

    # --- viewing ----------------------------------------------------------------------------

    @asynccontextmanager
    async def view(self) -> AsyncIterator[tuple[bytes, MemoryObjectReceiveStream[bytes]]]:
        """The output kept so far (to draw the screen), and a stream of what follows."""
        send, receive = anyio.create_memory_object_stream[bytes](VIEWER_BUFFER)
        if self.alive:
            self._viewers.add(send)
        else:
            send.close()
        try:
            yield bytes(self._replay[-REPLAY_BYTES:]), receive
        finally:
            self._viewers.discard(send)
            send.close()
            receive.close()

    # --- stopping -----------------------------------------------------------------------------

    async def stop(self, grace: float = 1.0) -> None:
        """Stop the shell and everything it started (its group, its session, its tag)."""
        with anyio.CancelScope(shield=True):
            pid = self.pid
            if self._current is not None:
                self._end("interrupted", None)
            kill_group(pid, signal.SIGHUP)
            kill_group(pid, signal.SIGCONT)
            with anyio.move_on_after(grace):
                while self.alive:
                    await self._changed.wait()
            kill_group(pid, signal.SIGKILL)
            await anyio.to_thread.run_sync(kill_tagged, self._tag)
            # With every process on the PTY gone, the reader sees its end.
            with anyio.move_on_after(grace):
                while self.alive:
                    await self._changed.wait()
            await anyio.to_thread.run_sync(_reap, pid)
            forget_group(pid)

    @property
    def tag(self) -> str:
        """The value of ``AEGIS_PROCESS_TAG`` every process started in the terminal carries."""
        return self._tag


@dataclass
class _Pending:
    """A command line :meth:`Terminal.run` typed, waiting for its start mark."""

    command: str
    by: str
    record: CommandRecord | None = None


def _trimmed(output: str) -> str:
    # Blank lines around a command's output, and what zsh writes after output that
    # lacks a final newline (PROMPT_SP's spaces), are not its output.
    return output.strip("\n").rstrip()


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, 0)


__all__ = ["TAG_VARIABLE", "RunResult", "Terminal", "TerminalBusy", "TerminalError"]
