"""The driver contract: one live harness session, spoken to over its protocol.

A provider opens a :class:`Driver` for each session (``Provider.open_driver``).
The session layer uses it like this, inside one task::

    async with provider.open_driver(agent, options) as driver:
        started = await driver.start()          # spawn + handshake (+ resume)
        end = await driver.prompt("hello")      # events stream through options.emit
        ...
        await driver.interrupt()                # from another task, during a turn

Rules every driver follows (the conformance suite, :mod:`aegis.testing.conformance`,
checks them against the real CLI):

* Every event goes through ``options.emit`` as soon as it is known: streamed, not
  batched at the end of a turn. ``emit`` is synchronous and cheap; never await in it.
* ``start`` raises :class:`~aegis.errors.DriverError` (``HarnessNotFound`` for a
  missing executable, with the install hint) when no session can be had. It emits
  one :class:`~aegis.events.SessionStarted`.
* ``prompt`` runs one turn and returns its :class:`~aegis.events.TurnEnd` (also
  emitted). It does not raise for harness failures: an API error, a crash of the
  CLI or a protocol error ends the turn with ``stop_reason=error`` at once, after
  an :class:`~aegis.events.Error` event (``fatal=True`` when the session cannot go
  on; then ``failed`` is set).
* ``interrupt`` makes the CLI stop the current turn; that ``prompt`` returns with
  ``stop_reason=cancelled``, and nothing of the interrupted turn leaks into the
  next one.
* Leaving the ``async with`` block stops the CLI and its whole process group, on
  every exit path (including cancellation).

A driver for a CLI that runs as a child process and speaks a line protocol on its
stdin and stdout subclasses :class:`ProcessDriver` (or, for the Agent Client
Protocol, :class:`~aegis.acp.driver.AcpDriver`, which is one): it spawns the CLI
with the profile's ``executable``, ``extra_args`` and ``env`` honoured, explains a
failed start, watches the process, times interrupts out and stops the process group
on every exit path. A subclass says what is particular to its CLI: its arguments
(:meth:`ProcessDriver.arguments`), its environment
(:meth:`ProcessDriver.default_environment`, :meth:`ProcessDriver.adjust_environment`)
and how to read its output (:meth:`ProcessDriver.read_output`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Generic, Self, TypeVar, final

import anyio
from anyio.abc import TaskGroup

from aegis.config.provider_config import ProviderConfig
from aegis.errors import DriverError, HarnessNotFound
from aegis.events import Event, SessionStarted, TurnEnd
from aegis.process import Diagnostics, ManagedProcess, describe_exit, inherited_text
from aegis.provider import find_on_path

if TYPE_CHECKING:
    from aegis.approvals.gate import PermissionGate
    from aegis.provider import Provider

C = TypeVar("C", bound=ProviderConfig)


@dataclass(frozen=True)
class McpServer:
    """An MCP server (streamable HTTP) to give the session's agent."""

    name: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    trusted: bool = False
    """Its tools are always allowed, whatever the profile's permission (aegis's own
    plane: its tools coordinate agents and touch no file)."""


@dataclass
class SessionOptions:
    """What the session layer tells a driver about the session it drives."""

    cwd: Path
    """Working directory of the CLI (the agent's workspace)."""
    emit: Callable[[Event], None] = lambda event: None
    """Called with every canonical event, in order."""
    mcp_servers: tuple[McpServer, ...] = ()
    """MCP servers to connect the agent to."""
    resume: str | None = None
    """Harness session id to resume instead of starting a new conversation."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for the CLI (over the process's own and the profile's)."""
    preamble: str | None = None
    """Text the agent should see before the first message (e.g. who it is)."""
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    """Where the CLI's stderr and the driver's notes go."""
    permissions: PermissionGate | None = None
    """What decides the CLI's permission requests (the profile's approval rules, a
    person, the permission level); ``None``: the permission level alone (see
    :meth:`gate`)."""

    def gate(self) -> PermissionGate:
        """The session's permission gate (one that only knows the permission level, and
        this session's trusted MCP servers, when none was given)."""
        if self.permissions is None:
            from aegis.approvals.gate import PermissionGate

            self.permissions = PermissionGate(trusted=self.mcp_servers)
        return self.permissions


class Driver(ABC):
    """One harness session. See the module documentation for the contract."""

    harness_session_id: str | None = None
    """The CLI's own id of the conversation (what ``resume`` takes)."""

    failed: str | None = None
    """Why the session cannot go on, once it cannot; else ``None``."""

    @abstractmethod
    async def __aenter__(self) -> Self:
        """Start whatever background tasks the driver needs (not yet the CLI)."""

    @abstractmethod
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the CLI and its process group, and the background tasks."""

    @abstractmethod
    async def start(self) -> SessionStarted:
        """Start the CLI and open (or resume) its session."""

    @abstractmethod
    async def prompt(self, text: str) -> TurnEnd:
        """Run one turn with ``text`` as the user message."""

    @abstractmethod
    async def interrupt(self) -> None:
        """Stop the turn in progress, if any."""


class ProcessDriver(Driver, Generic[C]):
    """The base of a driver whose CLI runs as a child process speaking a line protocol.

    Typed over the provider's configuration class ``C``; constructed as
    ``MyDriver(provider, config, options)`` from :meth:`Provider.open_driver
    <aegis.provider.Provider.open_driver>`. What it does, once for every such CLI:

    * **Spawning** (:meth:`spawn`): the command is :meth:`command`, the profile's
      ``executable`` (else the provider's), looked up on the ``PATH`` the process
      will have exactly as :meth:`Provider.find_executable
      <aegis.provider.Provider.find_executable>` does for ``aegis providers``,
      then :meth:`arguments`, then the profile's ``extra_args``. The environment is
      :meth:`environment`: aegis's own, :meth:`default_environment` over it, the
      profile's ``env`` over that, the session's (``SessionOptions.env``) over that,
      then :meth:`adjust_environment`. The CLI gets its own process group, tagged so
      that its escaped descendants are found too (:mod:`aegis.process`).
    * **Start-up failures**: a missing executable raises
      :class:`~aegis.errors.HarnessNotFound` naming the command and the provider's
      ``install_hint``; a CLI that exits or does not answer while starting gives a
      :class:`~aegis.errors.DriverError` carrying its exit status and last words on
      stderr (:meth:`startup_failure`).
    * **Watching**: stderr goes to the session's diagnostics; stdout's lines go to
      :meth:`read_output`; when the process exits, the reader gets a moment to drain
      what was written, and :meth:`on_exit` is called with what ended it
      (:meth:`exit_report`), once, whether or not the driver is closing.
    * **Interrupts**: :meth:`watch_interrupt` calls back when a turn has not ended
      :attr:`interrupt_grace` seconds after its interrupt.
    * **Closing**: leaving ``async with`` closes the CLI's stdin, then sends SIGTERM
      to its group, then SIGKILL, waiting :attr:`close_grace` between steps, then
      runs the subclass's clean-up (:meth:`cleanup`) and stops the background tasks.

    A subclass implements :meth:`arguments`, :meth:`read_output`, and the
    :class:`Driver` methods ``start`` (calling :meth:`spawn` first), ``prompt`` and
    ``interrupt``.
    """

    start_timeout: ClassVar[float] = 120.0
    """Seconds ``start`` waits for the CLI to be ready."""
    interrupt_grace: ClassVar[float] = 15.0
    """Seconds an interrupted turn may take to end before :meth:`watch_interrupt` acts."""
    close_grace: ClassVar[float] = 2.0
    """Seconds each step of closing (stdin closed, SIGTERM) waits for the CLI to exit."""
    drain_grace: ClassVar[float] = 1.0
    """Seconds the output reader may go on after the process exited (a grandchild that
    inherited stdout must not keep the session open)."""

    def __init__(self, provider: Provider[C], config: C, options: SessionOptions) -> None:
        self.provider = provider
        self.config: C = config
        """The profile's settings for this provider."""
        self.options = options
        self.diagnostics = options.diagnostics
        self.process: ManagedProcess | None = None
        """The CLI, once :meth:`spawn` started it."""
        self.exited = anyio.Event()
        """Set once the CLI has exited (or its output closed for good)."""
        self.closing = False
        """Set when the driver is being left: an exit then is no failure."""
        self._task_group: TaskGroup | None = None
        self._stderr_done = anyio.Event()
        self._inherited: list[int] = []

    # --- what a subclass says about its CLI ---------------------------------------------

    @abstractmethod
    def arguments(self) -> list[str]:
        """The CLI's arguments for this session, after the executable and before the
        profile's ``extra_args`` (which the base appends)."""

    def default_environment(self) -> dict[str, str]:
        """Variables the CLI needs, under the profile's ``env`` and the session's."""
        return {}

    def adjust_environment(self, env: dict[str, str]) -> dict[str, str]:
        """The last word on the CLI's environment, for what aegis itself must control.

        ``env`` is the complete environment (see :meth:`environment`); return it,
        changed. The default returns it as it is.
        """
        return env

    def default_executable(self) -> str | None:
        """The command when the profile names none: the provider's ``executable``."""
        return self.provider.executable

    @abstractmethod
    async def read_output(self, lines: AsyncIterator[bytes]) -> None:
        """Consume the CLI's stdout, one line (without its newline) at a time.

        Runs in the driver's task group from :meth:`spawn` on; cancelled a moment
        after the process exited if it is still reading then.
        """

    async def on_exit(self, report: str) -> None:
        """The CLI is gone (``report`` says how: :meth:`exit_report`). Called once.

        Also called when the driver is closing (:attr:`closing` is then set, and the
        exit is no failure). The default does nothing; a subclass fails what waits
        on the CLI here, and the running turn and the session unless closing.
        """

    async def cleanup(self) -> None:
        """Release what the subclass holds, once the CLI is stopped (runs shielded)."""

    # --- what the base builds from them -------------------------------------------------

    @final
    def command(self) -> list[str]:
        """The argv: executable, :meth:`arguments`, the profile's ``extra_args``.

        The executable is given as the profile or provider names it; :meth:`spawn`
        resolves it on the process's ``PATH``.
        """
        executable = self.config.executable or self.default_executable()
        if executable is None:
            raise DriverError(f"provider {self.provider.name!r} names no executable to run")
        return [executable, *self.arguments(), *self.config.extra_args]

    @final
    def environment(self) -> dict[str, str]:
        """The CLI's environment: aegis's, :meth:`default_environment`, the profile's
        ``env``, the session's, then :meth:`adjust_environment`."""
        env = {
            **os.environ,
            **self.default_environment(),
            **self.config.env,
            **self.options.env,
        }
        return self.adjust_environment(env)

    @property
    def label(self) -> str:
        """The CLI's name in messages: the executable's file name."""
        executable = self.config.executable or self.default_executable()
        return Path(executable).name if executable else self.provider.name

    # --- the process --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.closing = True
        try:
            if self.process is not None:
                await self.process.terminate(self.close_grace)
        finally:
            self._close_inherited()
            with anyio.CancelScope(shield=True):
                await self.cleanup()
            if self._task_group is not None:
                task_group, self._task_group = self._task_group, None
                task_group.cancel_scope.cancel()
                # The body's own exception is not the background tasks' business: given
                # to the group, it would come back wrapped in an ExceptionGroup.
                await task_group.__aexit__(None, None, None)

    @property
    def task_group(self) -> TaskGroup:
        """The driver's task group (for background work that must end with it)."""
        if self._task_group is None:
            raise DriverError("enter the driver (async with) before starting it")
        return self._task_group

    def inherit_text(self, text: str) -> str:
        """A path (``/dev/fd/N``) from which the CLI, and only it, reads ``text`` once.

        For a file argument that holds a secret (claude's ``--mcp-config`` with the
        plane's bearer token) or is too large for the environment: nothing is written
        to disk, so nothing is left behind whatever happens to aegis, and once the CLI
        has read it no other process can (see :func:`~aegis.process.inherited_text`).
        Call it before :meth:`spawn`; the CLI inherits the descriptor, which is closed
        here once it has started.
        """
        fd = inherited_text(text)
        self._inherited.append(fd)
        return f"/dev/fd/{fd}"

    def _close_inherited(self) -> None:
        fds, self._inherited = self._inherited, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    async def spawn(self) -> ManagedProcess:
        """Start the CLI and the tasks that watch it; ``start`` calls it first.

        The descriptors of :meth:`inherit_text` are handed to the CLI under their own
        numbers and closed here, whether or not it started.
        """
        try:
            task_group = self.task_group
            if self.process is not None:
                raise DriverError(f"this {self.label} session was started already")
            argv = self.command()
            env = self.environment()
            # The lookup of Provider.find_executable (what `aegis providers` shows), on
            # the PATH this process will have.
            path = find_on_path(argv[0], env)
            if path is None:
                hint = f": {self.provider.install_hint}" if self.provider.install_hint else ""
                raise HarnessNotFound(
                    f"{argv[0]!r} ({self.provider.name}) is not installed or not on PATH{hint}"
                )
            self.process = await ManagedProcess.start(
                [path, *argv[1:]],
                cwd=self.options.cwd,
                env=env,
                diagnostics=self.diagnostics,
                install_hint=self.provider.install_hint,
                pass_fds=self._inherited,
            )
        finally:
            self._close_inherited()
        task_group.start_soon(self._pump_stderr, self.process)
        task_group.start_soon(self._watch, self.process)
        return self.process

    async def _pump_stderr(self, process: ManagedProcess) -> None:
        try:
            await process.pump_stderr()
        finally:
            self._stderr_done.set()

    async def _watch(self, process: ManagedProcess) -> None:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._exit_ends_reading, process, group.cancel_scope)
                try:
                    await self.read_output(process.lines())
                except Exception as exc:  # a bug in a reader must end the session, not hang it
                    self.diagnostics.add(f"aegis: reading {self.label}'s output failed: {exc!r}")
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(self.close_grace):
                    await process.process.wait()
                self.exited.set()
                await self.on_exit("" if self.closing else await self.exit_report())

    async def _exit_ends_reading(self, process: ManagedProcess, reader: anyio.CancelScope) -> None:
        await process.process.wait()
        await anyio.sleep(self.drain_grace)
        reader.cancel()

    # --- telling what happened ----------------------------------------------------------

    async def exit_report(self, during: str = "") -> str:
        """Why the CLI stopped talking: ``NAME exited with code 3 DURING`` and its
        last words on stderr, once they are in (waits a moment for both)."""
        with anyio.move_on_after(self.drain_grace):
            if self.process is not None:
                await self.process.process.wait()
            await self._stderr_done.wait()
        returncode = self.process.returncode if self.process is not None else None
        return f"{self.label} {describe_exit(returncode)}{during}" + self.last_words()

    async def startup_failure(self, step: str, reason: str | None = None) -> DriverError:
        """The error for a start that failed at ``step`` (``"initialize"``...).

        If the CLI exited, it says so with its exit status and stderr; else ``reason``
        (default: it did not answer within :attr:`start_timeout`), with the command.
        """
        await self._settle_exit()
        if self.process is not None and self.process.returncode is not None:
            return DriverError(await self.exit_report(f" during {step}"))
        why = reason or f"did not answer {step} within {self.start_timeout:g} s"
        return DriverError(
            f"{self.label} {why}" + self.last_words(f"; command: {shlex.join(self.command())}")
        )

    async def _settle_exit(self) -> None:
        # A CLI explains itself on stderr just before it exits: give it a moment to.
        with anyio.move_on_after(self.drain_grace):
            await self.exited.wait()

    def last_words(self, extra: str = "", count: int = 10) -> str:
        """``extra`` and the last ``count`` lines of the diagnostics, on their own lines."""
        tail = self.diagnostics.tail(count)
        return extra + (f"\n{tail}" if tail else "")

    def watch_interrupt(self, done: anyio.Event, overdue: Callable[[], None]) -> None:
        """Call ``overdue`` if ``done`` is not set :attr:`interrupt_grace` s from now."""
        self.task_group.start_soon(self._interrupt_watchdog, done, overdue)

    async def _interrupt_watchdog(self, done: anyio.Event, overdue: Callable[[], None]) -> None:
        with anyio.move_on_after(self.interrupt_grace):
            await done.wait()
        if not done.is_set():
            overdue()
