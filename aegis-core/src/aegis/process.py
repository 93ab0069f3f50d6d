"""Child processes of harness CLIs: own process group, line-oriented I/O, sure cleanup.

Every harness runs in its own process group (``start_new_session``), so that
stopping it stops whatever it started too (tool subprocesses, MCP servers, node
workers). Closing escalates: close stdin, then SIGTERM to the group, then
SIGKILL, each after a grace period. A process-wide reaper kills any group still
alive when the interpreter exits, whatever the exit path.

Some CLIs start their tools in sessions of their own (claude's Bash tool runs each
command under ``setsid``), so a command that leaves something running escapes the
group. To find those too, each harness's environment carries a tag
(``AEGIS_PROCESS_TAG=<random>``) that every descendant inherits whatever its group,
session or parent; closing kills every process carrying it. That part is Linux
only (it reads ``/proc/<pid>/environ``); a process that wipes its environment
escapes it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import signal
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import anyio
from anyio.abc import Process

from aegis.errors import DriverError

_CHUNK = 1 << 16
MAX_LINE_BYTES = 256 << 20
"""Lines longer than this are dropped (with a diagnostic) rather than buffered."""

_PIPE_SIZE = 1 << 16
"""What a Linux pipe holds before a write blocks (its default capacity)."""
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

TAG_VARIABLE = "AEGIS_PROCESS_TAG"
"""The environment variable marking a harness's processes, whatever their group."""

TAG_PREFIX = uuid.uuid4().hex[:16]
"""The start of every tag this process gives out: a daemon records it, so that the next
daemon can find what a daemon killed with ``kill -9`` left running (:func:`kill_tag_prefix`)."""

_live_groups: set[int] = set()
_live_tags: set[str] = set()


def new_tag() -> str:
    """A fresh tag for a process tree started by this process (``<TAG_PREFIX>.<random>``)."""
    return f"{TAG_PREFIX}.{uuid.uuid4().hex}"


def _reap_all() -> None:
    for pgid in list(_live_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    _live_groups.clear()
    for tag in list(_live_tags):
        kill_tagged(tag)


def tagged_pids(tag: str, proc: Path = Path("/proc"), *, prefix: bool = False) -> list[int]:
    """The processes whose environment holds ``AEGIS_PROCESS_TAG=<tag>`` (not this one);
    with ``prefix``, those whose tag starts with ``<tag>.``."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    if prefix:
        needle += b"."
    own = os.getpid()
    found: list[int] = []
    with contextlib.suppress(OSError):
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == own:
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            variables = environ.split(b"\0")
            if prefix:
                if any(variable.startswith(needle) for variable in variables):
                    found.append(int(entry.name))
            elif needle in variables:
                found.append(int(entry.name))
    return found


def kill_tagged(tag: str) -> list[int]:
    """SIGKILL every process carrying ``tag``; return their pids."""
    _live_tags.discard(tag)
    pids = tagged_pids(tag)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def kill_tag_prefix(prefix: str) -> list[int]:
    """SIGKILL every process carrying a tag of ``prefix`` (another process's
    :data:`TAG_PREFIX`); return their pids. Blocking (it reads ``/proc``)."""
    pids = tagged_pids(prefix, prefix=True)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids


def inherited_text(text: str) -> int:
    """A pipe holding ``text``, for a child to read once as ``/dev/fd/N``; returns ``N``.

    For what must reach a CLI as a file but must not be readable by anyone else, nor
    outlive the session: an MCP configuration with bearer tokens, a large agent
    configuration. A file on disk (even 0600, even deleted on close) can be read by
    every process of the same user and stays behind after ``kill -9``; a command line
    is shown by ``ps`` to everyone. A pipe has no name: the child reads it through the
    descriptor it inherited (pass ``N`` in ``pass_fds``), and once read its content is
    gone, from the pipe and from ``/proc/<pid>/fd/N`` alike.

    The whole of ``text`` is written before this returns (the pipe is enlarged when
    it does not fit), so the child never waits for us. The caller closes ``N`` once
    the child has started (:meth:`ProcessDriver.spawn <aegis.driver.ProcessDriver.spawn>`
    does). Linux only, as ``/dev/fd`` of a pipe is.
    """
    data = text.encode("utf-8")
    read_end, write_end = os.pipe()
    try:
        if len(data) > _PIPE_SIZE:
            try:
                fcntl.fcntl(write_end, _F_SETPIPE_SZ, len(data))
            except OSError as exc:
                raise DriverError(
                    f"cannot hand {len(data)} bytes to a child through a pipe: {exc}"
                ) from None
        os.set_blocking(write_end, False)
        view = memoryview(data)
        while view:
            written = os.write(write_end, view)
            view = view[written:]
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end


def describe_exit(returncode: int | None) -> str:
    """How a process ended, for a message: ``exited with code 3``,
    ``was killed by signal 9 (SIGKILL)``; ``closed its output`` while it still runs."""
    if returncode is None:
        return "closed its output"
    if returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:
            name = ""
        return f"was killed by signal {-returncode}{name}"
    return f"exited with code {returncode}"


atexit.register(_reap_all)


def reaped_at_exit(pgid: int | None = None, tag: str | None = None) -> None:
    """Have the interpreter's exit kill process group ``pgid`` and the processes tagged
    ``tag`` if they still live then (for children started outside :class:`ManagedProcess`,
    such as a terminal's shell)."""
    if pgid is not None:
        _live_groups.add(pgid)
    if tag is not None:
        _live_tags.add(tag)


def forget_group(pgid: int) -> None:
    """Undo :func:`reaped_at_exit` for a group that has been stopped."""
    _live_groups.discard(pgid)


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group led by ``pid``, ignoring one that is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Diagnostics:
    """What a session's CLI said on stderr (the last lines), and aegis's own notes."""

    def __init__(self, max_lines: int = 500) -> None:
        self.lines: deque[str] = deque(maxlen=max_lines)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def tail(self, count: int = 20) -> str:
        """The last ``count`` lines, joined."""
        return "\n".join(list(self.lines)[-count:])


class ManagedProcess:
    """A harness CLI process, started in its own process group."""

    def __init__(
        self, process: Process, argv: Sequence[str], diagnostics: Diagnostics, tag: str
    ) -> None:
        self.process = process
        self.argv = list(argv)
        self.diagnostics = diagnostics
        self.tag = tag
        self._closed = False
        _live_groups.add(process.pid)

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        diagnostics: Diagnostics,
        install_hint: str = "",
        pass_fds: Sequence[int] = (),
    ) -> ManagedProcess:
        """Start ``argv`` in a new process group, with ``pass_fds`` inherited.

        A missing executable raises :class:`~aegis.errors.HarnessNotFound` (with
        ``install_hint``), another failure to start a :class:`~aegis.errors.DriverError`.
        """
        from aegis.errors import HarnessNotFound

        tag = new_tag()
        _live_tags.add(tag)
        try:
            process = await anyio.open_process(
                list(argv),
                cwd=cwd,
                env={**env, TAG_VARIABLE: tag},
                start_new_session=True,
                pass_fds=pass_fds,
            )
        except FileNotFoundError:
            _live_tags.discard(tag)
            hint = f": {install_hint}" if install_hint else ""
            raise HarnessNotFound(f"{argv[0]!r} is not installed or not on PATH{hint}") from None
        except OSError as exc:
            _live_tags.discard(tag)
            raise DriverError(f"cannot start {argv[0]!r}: {exc}") from exc
        return cls(process, argv, diagnostics, tag)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def write(self, data: bytes) -> None:
        """Write to the CLI's stdin; a closed pipe raises ``DriverError``."""
        assert self.process.stdin is not None
        try:
            await self.process.stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise DriverError(f"{self.argv[0]} is not reading its input any more") from exc

    async def lines(self) -> AsyncIterator[bytes]:
        """The lines of stdout, without their newline, until it closes.

        Arbitrary bytes are fine (decoding is the caller's business); a line longer
        than :data:`MAX_LINE_BYTES` is dropped and noted in the diagnostics.
        """
        assert self.process.stdout is not None
        buffer = bytearray()
        skipping = False
        async for chunk in _receive(self.process.stdout):
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                if end < 0:
                    if not skipping:
                        buffer += chunk[start:]
                        if len(buffer) > MAX_LINE_BYTES:
                            self.diagnostics.add(
                                f"aegis: dropped a stdout line over {MAX_LINE_BYTES} bytes"
                            )
                            buffer.clear()
                            skipping = True
                    break
                if skipping:
                    skipping = False
                else:
                    buffer += chunk[start:end]
                    yield bytes(buffer)
                buffer.clear()
                start = end + 1
        if buffer and not skipping:
            yield bytes(buffer)

    async def pump_stderr(self) -> None:
        """Keep the stderr tail in the diagnostics (run it in the driver's task group)."""
        if self.process.stderr is None:
            return
        pending = b""
        async for chunk in _receive(self.process.stderr):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                self.diagnostics.add(line.decode("utf-8", "replace"))
            if len(pending) > _CHUNK:
                self.diagnostics.add(pending.decode("utf-8", "replace"))
                pending = b""
        if pending:
            self.diagnostics.add(pending.decode("utf-8", "replace"))

    async def close_stdin(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(Exception):
                await self.process.stdin.aclose()

    async def terminate(self, grace: float = 2.0) -> int | None:
        """Stop the CLI and its process group: stdin closed, then SIGTERM, then SIGKILL.

        Safe to call more than once and from a cancelled scope.
        """
        with anyio.CancelScope(shield=True):
            if not self._closed:
                self._closed = True
                await self.close_stdin()
                if self.process.returncode is None:
                    with anyio.move_on_after(grace / 2):
                        await self.process.wait()
                if self.process.returncode is None:
                    kill_group(self.pid, signal.SIGTERM)
                    with anyio.move_on_after(grace):
                        await self.process.wait()
                # The leader may be gone while its children live on: always sweep the
                # group, then whatever left it but still carries the tag.
                kill_group(self.pid, signal.SIGKILL)
                await anyio.to_thread.run_sync(kill_tagged, self.tag)
                if self.process.returncode is None:
                    with anyio.move_on_after(grace):
                        await self.process.wait()
                _live_groups.discard(self.pid)
                with contextlib.suppress(Exception):
                    await self.process.aclose()
        return self.process.returncode


async def _receive(stream: anyio.abc.ByteReceiveStream) -> AsyncIterator[bytes]:
    while True:
        try:
            chunk = await stream.receive(_CHUNK)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        yield chunk
