"""``AcpDriver``: the :class:`~aegis.driver.Driver` of any CLI that speaks ACP.

A provider built on ACP subclasses it and says how to run its CLI; everything else
(the handshake, sessions, turns, permissions, file access, interrupts, failures) is
here, once::

    class GeminiDriver(AcpDriver):
        install_hint = "npm install -g @google/gemini-cli"

        def command(self) -> list[str]:
            return ["gemini", "--acp", "--approval-mode", "yolo"]

    # Provider.open_driver(agent, options) -> GeminiDriver(agent, options)

Hooks to override: :meth:`~AcpDriver.command` (required), :meth:`~AcpDriver.environment`,
:meth:`~AcpDriver.configure_session` (after ``session/new`` or ``session/load``; by
default it selects the profile's model through a ``model`` configuration option),
:meth:`~AcpDriver.prompt_blocks`, and :attr:`~AcpDriver.translator_class` to name a
CLI's tool calls differently; :attr:`~AcpDriver.replay_quiet` for a CLI that goes on
replaying after it answered ``session/load``.

It follows the rules of :mod:`aegis.driver`. In ACP terms: ``start`` runs
``initialize`` then ``session/new`` (or ``session/load`` to resume, whose replay of the
old conversation is kept in :attr:`~AcpDriver.history` and never emitted as new
events); ``prompt`` runs ``session/prompt`` and streams each ``session/update`` as
events while it waits; ``interrupt`` sends ``session/cancel``. When the CLI dies, the
pending prompt fails at once with a fatal :class:`~aegis.events.Error`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import anyio
from anyio.abc import TaskGroup

from aegis.acp.client import PROTOCOL_VERSION, AcpClient
from aegis.acp.jsonrpc import ConnectionClosed, JsonRpcError
from aegis.acp.translate import AcpSessionState, HistoryEntry, UpdateTranslator, config_values
from aegis.driver import Driver, SessionOptions
from aegis.errors import DriverError
from aegis.events import Error, SessionStarted, StopReason, ToolKind, TurnEnd
from aegis.permissions import refusal
from aegis.process import ManagedProcess

if TYPE_CHECKING:
    from aegis.config.agent import Agent

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": StopReason.end_turn,
    "max_tokens": StopReason.max_tokens,
    # The agent hit its limit of model requests in one turn: a limit, like max_tokens.
    "max_turn_requests": StopReason.max_tokens,
    "refusal": StopReason.refusal,
    "cancelled": StopReason.cancelled,
}

_REQUEST_CANCELLED = -32800
"""JSON-RPC "request cancelled": some agents answer a cancelled prompt with it."""


class AcpDriver(Driver):
    """One session of an ACP agent CLI. Subclass it and implement :meth:`command`."""

    install_hint: ClassVar[str] = ""
    """Shown when the executable is missing."""
    start_timeout: ClassVar[float] = 120.0
    """Seconds ``start`` waits for the handshake and the session."""
    cancel_grace: ClassVar[float] = 15.0
    """Seconds an interrupted turn may take to end before the session is given up."""
    prompt_error_is_fatal: ClassVar[bool] = False
    """Whether an error answer to ``session/prompt`` ends the session.

    It does not by default: the CLIs answer a model API error this way and take the
    next prompt normally.
    """
    replay_quiet: ClassVar[float] = 0.0
    """Seconds without a ``session/update`` that mark the end of a ``session/load`` replay.

    ACP has the agent finish replaying before it answers ``session/load``, and by
    default (0) the driver relies on that. For an agent that answers first and goes on
    replaying (gemini 0.61), the driver keeps taking updates as history until they have
    been quiet this long, so that none of the old conversation reaches the first turn.
    """
    translator_class: ClassVar[type[UpdateTranslator]] = UpdateTranslator

    def __init__(self, agent: Agent, options: SessionOptions) -> None:
        self.agent = agent
        self.options = options
        self.diagnostics = options.diagnostics
        self.state = AcpSessionState()
        """The session's modes, options, commands and context, as the agent reports them."""
        self.translator = self.translator_class(options.emit, self.state, self.diagnostics)
        self.process: ManagedProcess | None = None
        self.client: AcpClient | None = None
        self.cwd = Path(os.path.abspath(options.cwd))
        """The session's working directory, absolute as ACP wants (symlinks kept as given)."""
        self.initialize_result: dict[str, Any] = {}
        self.session_result: dict[str, Any] = {}
        self._tg: TaskGroup | None = None
        self._name = "agent"
        self._prompts = 0
        self._turn_scope: anyio.CancelScope | None = None
        self._turn_done = anyio.Event()
        self._cancel_requested = False
        self._cancel_overdue = False
        self._update_arrived = anyio.Event()

    # --- hooks for providers ------------------------------------------------------------

    @abstractmethod
    def command(self) -> list[str]:
        """The argv that starts the CLI in ACP mode."""

    def environment(self) -> dict[str, str]:
        """The CLI's environment: aegis's, then the profile's ``env``, then the session's."""
        return self.options.child_env(self.agent.provider.env)

    async def configure_session(self) -> None:
        """Adjust a new or loaded session before the first prompt.

        The default selects the profile's model through the session's ``model``
        configuration option (opencode has no model flag), when the agent offers one.
        Providers that pass the model on the command line need not care.
        """
        model = self.agent.model
        option = self.state.config_option("model")
        if model is None or option is None or option.get("currentValue") == model:
            return
        offered = config_values(option)
        if model not in offered:
            raise DriverError(
                f"{self._name} offers no model {model!r}; it offers: {', '.join(offered)}"
            )
        await self.set_config_option(str(option.get("id", "model")), model)

    def prompt_blocks(self, text: str, *, first: bool) -> list[dict[str, Any]]:
        """The ``session/prompt`` content for ``text``; the preamble goes before the first."""
        blocks = [{"type": "text", "text": text}]
        if first and self.options.preamble:
            blocks.insert(0, {"type": "text", "text": self.options.preamble})
        return blocks

    # --- what the session said ----------------------------------------------------------

    @property
    def history(self) -> list[HistoryEntry]:
        """The conversation the agent replayed when the session was resumed."""
        return self.translator.history

    @property
    def session_id(self) -> str | None:
        """The ACP session id (also ``harness_session_id``), once started."""
        return self.state.session_id

    async def set_mode(self, mode_id: str) -> None:
        """Switch the session to one of its ``state.modes``."""
        client, session_id = self._ready()
        await client.set_mode(session_id, mode_id)
        self.state.current_mode = mode_id

    async def set_config_option(self, config_id: str, value: str) -> None:
        """Set a session configuration option (``state.config_options``)."""
        client, session_id = self._ready()
        result = await client.set_config_option(session_id, config_id, value)
        self.state.take_session_result(result)

    # --- the Driver contract ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.process is not None:
                await self.process.terminate()
        finally:
            if self._tg is not None:
                tg, self._tg = self._tg, None
                tg.cancel_scope.cancel()
                await tg.__aexit__(None, None, None)

    async def start(self) -> SessionStarted:
        if self._tg is None:
            raise DriverError("enter the driver (async with) before starting it")
        argv = self.command()
        self._name = Path(argv[0]).name
        self.process = await ManagedProcess.start(
            argv,
            cwd=self.options.cwd,
            env=self.environment(),
            diagnostics=self.diagnostics,
            install_hint=self.install_hint,
        )
        self.client = AcpClient(
            self.process.write,
            permission=self.agent.permission,
            on_update=self._on_update,
            on_permission=self._on_permission,
            diagnostics=self.diagnostics,
            name=self._name,
            mcp_servers=self.options.mcp_servers,
        )
        self._tg.start_soon(self.process.pump_stderr)
        self._tg.start_soon(self._read, self.process, self.client)
        step = "initialize"
        try:
            with anyio.fail_after(self.start_timeout):
                self.initialize_result = await self.client.initialize()
                self._check_agent()
                step = "session/load" if self.options.resume else "session/new"
                await self._open_session(self.client)
                step = "the session's configuration"
                await self.configure_session()
        except TimeoutError:
            raise DriverError(
                f"{self._name} did not answer {step} within {self.start_timeout:g} s"
                + self._last_words(f"; command: {shlex.join(argv)}")
            ) from None
        except JsonRpcError as exc:
            raise DriverError(f"{self._name} refused {step}: {exc}" + self._last_words()) from None
        except ConnectionClosed:
            raise DriverError(await self._death(f" during {step}")) from None
        self.harness_session_id = self.state.session_id
        started = SessionStarted(
            harness_session_id=self.state.session_id or "",
            model=self.state.model or self.agent.model,
            resumed=self.options.resume is not None,
        )
        self.options.emit(started)
        return started

    async def prompt(self, text: str) -> TurnEnd:
        client, session_id = self._ready()
        began = anyio.current_time()
        if self.failed is not None:
            end = TurnEnd(StopReason.error, error=self.failed)
            self.options.emit(end)
            return end
        blocks = self.prompt_blocks(text, first=self._prompts == 0)
        self._prompts += 1
        self._cancel_requested = self._cancel_overdue = False
        self._turn_done = anyio.Event()
        self.translator.begin_turn()
        result: dict[str, Any] = {}
        stop, error = StopReason.end_turn, None
        try:
            with anyio.CancelScope() as self._turn_scope:
                result = await client.prompt(session_id, blocks)
                stop = self._stop_reason(result.get("stopReason"))
            if self._cancel_overdue:
                error = self._fail(
                    f"{self._name} did not end the interrupted turn within {self.cancel_grace:g} s"
                )
                stop = StopReason.error
        except JsonRpcError as exc:
            if self._cancel_requested and exc.code == _REQUEST_CANCELLED:
                stop = StopReason.cancelled
            else:
                stop, error = StopReason.error, _error_text(exc)
                if self.prompt_error_is_fatal:
                    self._fail(error, code=str(exc.code))
                else:
                    self.options.emit(Error(error, fatal=False, code=str(exc.code)))
        except ConnectionClosed:
            stop, error = StopReason.error, self._fail(await self._death(), code="exited")
        except BaseException:
            # Our caller gave up on the turn (cancelled): stop the agent too, best effort,
            # and let nothing more of this turn through.
            self.translator.abandon_turn()
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(1.0),
                contextlib.suppress(ConnectionClosed),
            ):
                await client.cancel(session_id)
            raise
        finally:
            self._turn_scope = None
            self._turn_done.set()
        reply = self.translator.end_turn()
        usage = self.translator.turn_usage(result)
        if usage is not None:
            self.options.emit(usage)
        end = TurnEnd(
            stop,
            text=reply,
            duration_s=anyio.current_time() - began,
            usage=usage,
            error=error,
        )
        self.options.emit(end)
        return end

    async def interrupt(self) -> None:
        scope, done = self._turn_scope, self._turn_done
        if scope is None or self._cancel_requested or self.client is None:
            return
        self._cancel_requested = True
        try:
            await self.client.cancel(self.state.session_id or "")
        except ConnectionClosed:
            return  # The turn fails by itself.
        if self._tg is not None and not done.is_set():
            self._tg.start_soon(self._cancel_watchdog, done, scope)

    # --- internals ----------------------------------------------------------------------

    def _ready(self) -> tuple[AcpClient, str]:
        if self.client is None or self.state.session_id is None:
            raise DriverError("the driver has no session yet: call start() first")
        return self.client, self.state.session_id

    def _check_agent(self) -> None:
        version = self.initialize_result.get("protocolVersion")
        if version != PROTOCOL_VERSION:
            raise DriverError(
                f"{self._name} speaks ACP version {version!r}; aegis speaks {PROTOCOL_VERSION}"
            )
        mcp = (self.client.agent_capabilities if self.client else {}).get("mcpCapabilities") or {}
        if self.options.mcp_servers and not mcp.get("http"):
            raise DriverError(
                f"{self._name} cannot connect to MCP servers over HTTP, which this session needs"
            )

    async def _open_session(self, client: AcpClient) -> None:
        cwd, servers = self.cwd, self.options.mcp_servers
        resume = self.options.resume
        if resume is None:
            self.session_result = await client.new_session(cwd, servers)
            self.state.session_id = str(self.session_result["sessionId"])
        elif client.agent_capabilities.get("loadSession"):
            self.state.session_id = resume
            self.translator.begin_replay()
            try:
                self.session_result = await client.load_session(resume, cwd, servers)
                await self._replay_settled()
            finally:
                self.translator.end_replay()
        elif isinstance(
            (client.agent_capabilities.get("sessionCapabilities") or {}).get("resume"), dict
        ):
            self.state.session_id = resume
            self.session_result = await client.resume_session(resume, cwd, servers)
        else:
            raise DriverError(f"{self._name} cannot resume sessions (no loadSession capability)")
        self.state.take_session_result(self.session_result)

    async def _replay_settled(self) -> None:
        """Wait until the agent's replay has been quiet for :attr:`replay_quiet` seconds."""
        if self.replay_quiet <= 0:
            return
        # A quiet period is the only end a late replay has: nothing marks its last update.
        while True:
            arrived = self._update_arrived = anyio.Event()
            with anyio.move_on_after(self.replay_quiet):
                await arrived.wait()
            if not arrived.is_set():
                return

    async def _read(self, process: ManagedProcess, client: AcpClient) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_exit, process, client, tg.cancel_scope)
            await client.serve(process.lines())
            tg.cancel_scope.cancel()

    async def _watch_exit(
        self, process: ManagedProcess, client: AcpClient, reader: anyio.CancelScope
    ) -> None:
        await process.process.wait()
        # Let the reader drain what the CLI wrote before it died; a grandchild that
        # inherited stdout must not keep the conversation open, though.
        with anyio.move_on_after(1.0):
            await client.connection.wait_closed()
        reader.cancel()

    async def _cancel_watchdog(self, done: anyio.Event, scope: anyio.CancelScope) -> None:
        with anyio.move_on_after(self.cancel_grace):
            await done.wait()
            return
        self._cancel_overdue = True
        scope.cancel()

    def _on_update(self, session_id: str, update: dict[str, Any]) -> None:
        if session_id != self.state.session_id:
            self.diagnostics.add(f"aegis: ignored an update for another session {session_id!r}")
            return
        self._update_arrived.set()
        self.translator.handle(update)

    def _on_permission(
        self, session_id: str, tool_call: dict[str, Any], kind: ToolKind, allowed: bool
    ) -> None:
        if session_id == self.state.session_id:
            message = None if allowed else refusal(self.agent.permission, kind)
            self.translator.permission_asked(tool_call, allowed=allowed, refusal=message)

    def _stop_reason(self, value: Any) -> StopReason:
        stop = _STOP_REASONS.get(value) if isinstance(value, str) else None
        if stop is None:
            self.diagnostics.add(f"aegis: unknown stopReason {value!r}, taken as end_turn")
            return StopReason.end_turn
        return stop

    def _fail(self, message: str, code: str | None = None) -> str:
        if self.failed is None:
            self.failed = message
            self.options.emit(Error(message, fatal=True, code=code))
        return message

    async def _death(self, during: str = "") -> str:
        """Why the CLI stopped talking: its exit status and last words on stderr."""
        returncode = None
        if self.process is not None:
            with anyio.move_on_after(1.0):
                await self.process.process.wait()
            returncode = self.process.returncode
        if returncode is None:
            what = "closed its output"
        elif returncode < 0:
            what = f"was killed by signal {-returncode}"
        else:
            what = f"exited with code {returncode}"
        return f"{self._name} {what}{during}" + self._last_words()

    def _last_words(self, extra: str = "") -> str:
        tail = self.diagnostics.tail(10)
        return extra + (f"\n{tail}" if tail else "")


def _error_text(exc: JsonRpcError) -> str:
    """The agent's own words for an error answer: its message, and details from ``data``."""
    text = exc.message or f"error {exc.code}"
    data = exc.data
    if isinstance(data, Mapping):
        detail = data.get("details") or data.get("message")
        if isinstance(detail, str) and detail and detail not in text:
            text += f": {detail}"
    elif isinstance(data, str) and data and data not in text:
        text += f": {data}"
    return text
