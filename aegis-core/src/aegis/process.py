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
import os
import signal
import tempfile
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

TAG_VARIABLE = "AEGIS_PROCESS_TAG"
"""The environment variable marking a harness's processes, whatever their group."""

_live_groups: set[int] = set()
_live_tags: set[str] = set()


def _reap_all() -> None:
    for pgid in list(_live_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    _live_groups.clear()
    for tag in list(_live_tags):
        kill_tagged(tag)


def tagged_pids(tag: str, proc: Path = Path("/proc")) -> list[int]:
    """The processes whose environment holds ``AEGIS_PROCESS_TAG=<tag>`` (not this one)."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
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
            if needle in environ.split(b"\0"):
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


def private_file(text: str, prefix: str = "aegis-") -> Path:
    """A new temporary file holding ``text``, readable by its owner only (0600).

    For what must not go on a command line, where ``ps`` shows it to everyone:
    tokens, large configurations. The caller deletes it.
    """
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    return Path(name)


atexit.register(_reap_all)


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
    ) -> ManagedProcess:
        """Start ``argv``; a missing executable raises ``HarnessNotFound``-style errors."""
        from aegis.errors import HarnessNotFound

        tag = uuid.uuid4().hex
        _live_tags.add(tag)
        try:
            process = await anyio.open_process(
                list(argv), cwd=cwd, env={**env, TAG_VARIABLE: tag}, start_new_session=True
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
