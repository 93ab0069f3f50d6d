"""The terminals of a runtime: spawned by name, shared by everyone, stopped with the runtime."""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from aegis.lifespan import Lifespan
from aegis.process import TAG_VARIABLE, new_tag
from aegis.terminals import ledger
from aegis.terminals.ledger import CommandRecord
from aegis.terminals.shell import default_shell, shell_command, shell_kind
from aegis.terminals.terminal import Terminal, TerminalError, UnknownTerminal

if TYPE_CHECKING:
    from aegis.inbox import InboxRouter

log = logging.getLogger("aegis.terminals")

DIRECTORY = "terminals"
"""Under the state directory: the ledgers (``<name>.jsonl``) and the shell integration."""
DEFAULT_ROWS, DEFAULT_COLS = 40, 160
"""A terminal's size until a viewer sets it (wide, so agents' output wraps little)."""
WAKE_UP_LINES = 15
"""The last lines of a command's output in a subscriber's wake-up."""
MAX_TERMINALS = 32

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class TerminalInfo:
    """A terminal as lists show it."""

    name: str
    shell: str
    pid: int
    alive: bool
    busy: bool
    integrated: bool
    rows: int
    cols: int
    cwd: str
    created_by: str
    created_at: float
    last_seq: int
    running: str | None
    subscribers: list[str]


class TerminalRegistry(Lifespan):
    """Named terminals, owned by the runtime: every shell is stopped when it stops.

    ``inbox``: where wake-ups to subscribers go (``None``: nobody is told). ``env``: added
    to this process's environment for the shells.
    """

    def __init__(
        self,
        state_dir: Path,
        project_root: Path,
        *,
        inbox: InboxRouter | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = state_dir / DIRECTORY
        self.project_root = project_root
        self.inbox = inbox
        self.env = {**os.environ, **(env or {})}
        self._terminals: dict[str, Terminal] = {}
        self._tg: TaskGroup | None = None
        self._spawn_lock = anyio.Lock()

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # Commands that were running when an earlier aegis died are ended as such.
        await anyio.to_thread.run_sync(self._mark_interrupted)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                try:
                    yield
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.stop_all()
                    tg.cancel_scope.cancel()
        finally:
            self._tg = None

    def _mark_interrupted(self) -> None:
        if self.directory.is_dir():
            for path in self.directory.glob("*.jsonl"):
                ledger.mark_interrupted(path)

    async def stop_all(self) -> None:
        """Stop every terminal's shell (and all they started)."""
        terminals, self._terminals = list(self._terminals.values()), {}
        async with anyio.create_task_group() as tg:
            for terminal in terminals:
                tg.start_soon(terminal.stop)

    # --- terminals ----------------------------------------------------------------------

    def get(self, name: str) -> Terminal:
        """The terminal ``name``; :class:`UnknownTerminal` says which exist."""
        try:
            return self._terminals[name]
        except KeyError:
            names = ", ".join(sorted(self._terminals)) or "none"
            raise UnknownTerminal(
                f"no terminal {name!r} (open: {names}); spawn one first"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self._terminals

    def list(self) -> list[TerminalInfo]:
        """Every terminal, in the order they were spawned."""
        return [info(t) for t in self._terminals.values()]

    async def spawn(
        self,
        name: str,
        *,
        by: str,
        shell: str | None = None,
        cwd: Path | None = None,
        rows: int = DEFAULT_ROWS,
        cols: int = DEFAULT_COLS,
    ) -> Terminal:
        """Start terminal ``name`` running ``shell`` (the person's, else bash) in ``cwd``
        (the project's folder)."""
        if self._tg is None:
            raise RuntimeError("use the TerminalRegistry in an `async with` block")
        if not _NAME.match(name):
            raise TerminalError(
                f"bad terminal name {name!r}: use letters, digits, '.', '_' and '-' "
                "(at most 64), starting with a letter or digit"
            )
        async with self._spawn_lock:
            if name in self._terminals:
                raise TerminalError(f"terminal {name!r} exists already; use it, or close it first")
            if len(self._terminals) >= MAX_TERMINALS:
                raise TerminalError(f"{MAX_TERMINALS} terminals are open; close one first")
            shell = shell or default_shell(self.env)
            folder = (cwd or self.project_root).resolve()
            if not folder.is_dir():
                raise TerminalError(f"no folder {folder}")
            tag = new_tag()
            env = {**self.env, TAG_VARIABLE: tag}
            argv, environ = await anyio.to_thread.run_sync(
                shell_command, shell, self.directory / "shell", env
            )
            path = ledger.ledger_path(self.directory, name)
            known = await anyio.to_thread.run_sync(ledger.read_ledger, path)
            try:
                process = await anyio.to_thread.run_sync(_spawn, argv, folder, environ, rows, cols)
            except OSError as exc:
                raise TerminalError(f"cannot start {shell!r}: {exc}") from None
            terminal = Terminal(
                name,
                process,
                shell=shell,
                cwd=folder,
                tag=tag,
                integrated=shell_kind(shell) is not None,
                ledger_file=path,
                next_seq=(known[-1].seq if known else 0) + 1,
                on_command_end=self._command_ended,
                created_by=by,
                rows=rows,
                cols=cols,
            )
            self._terminals[name] = terminal
            self._tg.start_soon(self._pump, terminal, name=f"terminal {name}")
            return terminal

    async def _pump(self, terminal: Terminal) -> None:
        try:
            await terminal.pump()
        except Exception:
            log.exception("terminal %s: reading its output failed", terminal.name)

    async def close(self, name: str) -> None:
        """Stop terminal ``name``'s shell and forget it (its ledger stays)."""
        terminal = self.get(name)
        del self._terminals[name]
        await terminal.stop()

    # --- wake-ups ---------------------------------------------------------------------------

    def _command_ended(self, terminal: Terminal, record: CommandRecord) -> None:
        if self.inbox is None or self._tg is None:
            return
        for handle in sorted(terminal.subscribers):
            if handle != record.by:  # the one who ran it knows already
                self._tg.start_soon(self._wake, terminal, record, handle)

    async def _wake(self, terminal: Terminal, record: CommandRecord, handle: str) -> None:
        from aegis.errors import MessageRefused
        from aegis.session.manager import UnknownSession

        assert self.inbox is not None
        ended = "ended" if record.exit is None else f"exited with status {record.exit}"
        if record.status == "exited":
            ended = "was running when the shell exited"
        elif record.status == "interrupted":
            ended = "was interrupted"
        assert record.ended_at is not None
        lines = record.output.splitlines()[-WAKE_UP_LINES:]
        shown = "\n".join(lines) if lines else "(no output)"
        text = (
            f"Terminal {terminal.name}: command #{record.seq} `{record.command}` (run by "
            f"{record.by}) {ended} after {record.ended_at - record.started_at:.1f}s. "
            f"Last lines:\n\n{shown}\n\n(aegis_term_read shows more.)"
        )
        try:
            await self.inbox.deliver(
                handle,
                text,
                f"terminal:{terminal.name}",
                key=f"terminal:{terminal.name}:{terminal.id}:{record.seq}:{handle}",
            )
        except (UnknownSession, MessageRefused) as exc:
            log.warning("terminal %s: %s was not told: %s", terminal.name, handle, exc)
            if isinstance(exc, UnknownSession):
                terminal.subscribers.discard(handle)


def info(terminal: Terminal) -> TerminalInfo:
    """The :class:`TerminalInfo` of ``terminal``."""
    current = terminal.current
    return TerminalInfo(
        name=terminal.name,
        shell=terminal.shell,
        pid=terminal.pid,
        alive=terminal.alive,
        busy=terminal.busy,
        integrated=terminal.integrated,
        rows=terminal.rows,
        cols=terminal.cols,
        cwd=str(terminal.cwd),
        created_by=terminal.created_by,
        created_at=terminal.created_at,
        last_seq=terminal.last_seq,
        running=current.command if current is not None else None,
        subscribers=sorted(terminal.subscribers),
    )


def _spawn(argv: list[str], cwd: Path, env: dict[str, str], rows: int, cols: int) -> object:
    from ptyprocess import PtyProcess  # type: ignore[import-untyped]

    return PtyProcess.spawn(
        argv, cwd=str(cwd), env=env, dimensions=(rows, cols), preexec_fn=_default_signals
    )


def _default_signals() -> None:
    """In the shell's process, before it starts: Ctrl+C and Ctrl+\\ act as in any terminal.

    A process started in the background by a script (``aegis daemon run &``) ignores
    SIGINT and SIGQUIT, and what it starts inherits that: the shell's commands could
    not be interrupted from the terminal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
