"""``AcpDriver``: the :class:`~aegis.driver.Driver` of any CLI that speaks ACP.

A provider built on ACP subclasses it and says which arguments start its CLI in
ACP mode; everything else (spawning it with the profile's ``executable``,
``extra_args`` and ``env``, the handshake, sessions, turns, permissions, file access,
interrupts, failures) is here, once::

    class ExampleDriver(AcpDriver[Example]):
        def arguments(self) -> list[str]:
            return ["--acp"]

    class ExampleProvider(Provider[Example]):
        config_class = Example
        executable = "example-agent"
        install_hint = "pip install example-agent"

        def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
            return ExampleDriver(self, self.checked_config(agent), options)

Hooks to override: :meth:`~aegis.driver.ProcessDriver.arguments` (required),
:meth:`~aegis.driver.ProcessDriver.default_environment` and
:meth:`~aegis.driver.ProcessDriver.adjust_environment`,
:meth:`~AcpDriver.configure_session` (after ``session/new`` or ``session/load``; by
default it selects the profile's model through a ``model`` configuration option),
:meth:`~AcpDriver.prompt_blocks`, and :attr:`~AcpDriver.translator_class` to name a
CLI's tool calls differently; :attr:`~AcpDriver.replay_quiet` for a CLI that goes on
replaying after it answered ``session/load``.

An agent whose ``initialize`` does not offer MCP over HTTP (``mcpCapabilities.http``)
still runs sessions, without aegis's MCP servers: the driver says so in a non-fatal
:class:`~aegis.events.Error` (code ``mcp_unsupported``) right after
:class:`~aegis.events.SessionStarted`, and in the diagnostics.

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
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import anyio

from aegis.acp.client import PROTOCOL_VERSION, AcpClient
from aegis.acp.jsonrpc import ConnectionClosed, JsonRpcError
from aegis.acp.translate import AcpSessionState, HistoryEntry, UpdateTranslator, config_values
from aegis.approvals.gate import Verdict
from aegis.config.provider_config import ProviderConfig
from aegis.driver import McpServer, ProcessDriver, SessionOptions
from aegis.errors import DriverError
from aegis.events import Error, SessionStarted, StopReason, ToolKind, TurnEnd

if TYPE_CHECKING:
    from aegis.provider import Provider

C = TypeVar("C", bound=ProviderConfig)

MCP_UNSUPPORTED = "mcp_unsupported"
"""The code of the :class:`~aegis.events.Error` saying a session runs without its MCP
servers, because the agent cannot connect to MCP servers over HTTP."""

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


class AcpDriver(ProcessDriver[C]):
    """One session of an ACP agent CLI; see the module documentation.

    A :class:`~aegis.driver.ProcessDriver`: subclass it, typed over the provider's
    configuration class, and implement :meth:`~aegis.driver.ProcessDriver.arguments`.
    """

    interrupt_grace: ClassVar[float] = 15.0
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

    def __init__(self, provider: Provider[C], config: C, options: SessionOptions) -> None:
        super().__init__(provider, config, options)
        self.state = AcpSessionState()
        """The session's modes, options, commands and context, as the agent reports them."""
        self.translator = self.translator_class(options.emit, self.state, self.diagnostics)
        self.client: AcpClient | None = None
        self.cwd = Path(os.path.abspath(options.cwd))
        """The session's working directory, absolute as ACP wants (symlinks kept as given)."""
        self.initialize_result: dict[str, Any] = {}
        self.session_result: dict[str, Any] = {}
        self.mcp_servers: tuple[McpServer, ...] = options.mcp_servers
        """The MCP servers the session gets: none when the agent cannot take them."""
        self._prompts = 0
        self._turn_scope: anyio.CancelScope | None = None
        self._turn_done = anyio.Event()
        self._cancel_requested = False
        self._cancel_overdue = False
        self._update_arrived = anyio.Event()
        self._refusals: list[str] = []
        """What people said refusing this turn's tools: ACP's answer cannot carry it, so
        it is told the agent in a prompt of its own before the turn ends."""

    # --- hooks for providers ------------------------------------------------------------

    async def configure_session(self) -> None:
        """Adjust a new or loaded session before the first prompt.

        The default selects the profile's model through the session's ``model``
        configuration option (opencode has no model flag), when the agent offers one.
        Providers that pass the model on the command line need not care.
        """
        model = self.config.model
        option = self.state.config_option("model")
        if model is None or option is None or option.get("currentValue") == model:
            return
        offered = config_values(option)
        if model not in offered:
            raise DriverError(
                f"{self.label} offers no model {model!r}; it offers: {', '.join(offered)}"
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

    async def start(self) -> SessionStarted:
        self.client = AcpClient(
            self._write,
            permission=self.config.permission,
            on_update=self._on_update,
            on_permission=self._on_permission,
            diagnostics=self.diagnostics,
            name=self.label,
            mcp_servers=self.mcp_servers,
            gate=self.options.gate(),
            describe=self.translator.describe,
        )
        await self.spawn()
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
            raise await self.startup_failure(step) from None
        except JsonRpcError as exc:
            raise DriverError(f"{self.label} refused {step}: {exc}" + self.last_words()) from None
        except ConnectionClosed:
            raise await self.startup_failure(step, f"closed its output during {step}") from None
        self.harness_session_id = self.state.session_id
        started = SessionStarted(
            harness_session_id=self.state.session_id or "",
            model=self.state.model or self.config.model,
            resumed=self.options.resume is not None,
        )
        self.options.emit(started)
        if self.mcp_servers != self.options.mcp_servers:
            self.options.emit(Error(self._no_mcp_warning(), fatal=False, code=MCP_UNSUPPORTED))
        return started

    async def read_output(self, lines: AsyncIterator[bytes]) -> None:
        """Serve the JSON-RPC connection: answers, the agent's requests, notifications."""
        assert self.client is not None
        await self.client.serve(lines)

    async def _write(self, data: bytes) -> None:
        if self.process is None:
            raise ConnectionClosed(f"{self.label} is not running")
        await self.process.write(data)

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
        self._refusals = []
        self.translator.begin_turn()
        result: dict[str, Any] = {}
        stop, error = StopReason.end_turn, None
        try:
            with anyio.CancelScope() as self._turn_scope:
                result = await client.prompt(session_id, blocks)
                stop = self._stop_reason(result.get("stopReason"))
                # A person's reasons for refusing tools reach the agent within the turn.
                while self._refusals and stop is StopReason.end_turn:
                    said, self._refusals = self._refusals, []
                    self.translator.next_prompt()
                    result = await client.prompt(session_id, [_text_block(_refused(said))])
                    stop = self._stop_reason(result.get("stopReason"))
            if self._cancel_overdue:
                error = self._fail(
                    f"{self.label} did not end the interrupted turn within "
                    f"{self.interrupt_grace:g} s"
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
            stop, error = StopReason.error, self._fail(await self.exit_report(), code="exited")
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
        if not done.is_set():
            self.watch_interrupt(done, lambda: self._cancel_overdue_turn(scope))

    # --- internals ----------------------------------------------------------------------

    def _ready(self) -> tuple[AcpClient, str]:
        if self.client is None or self.state.session_id is None:
            raise DriverError("the driver has no session yet: call start() first")
        return self.client, self.state.session_id

    def _check_agent(self) -> None:
        version = self.initialize_result.get("protocolVersion")
        if version != PROTOCOL_VERSION:
            raise DriverError(
                f"{self.label} speaks ACP version {version!r}; aegis speaks {PROTOCOL_VERSION}"
            )
        mcp = (self.client.agent_capabilities if self.client else {}).get("mcpCapabilities") or {}
        if self.mcp_servers and not mcp.get("http"):
            # Sessions still run, without aegis's tools: an agent that cannot coordinate
            # through the plane is more use than none. The user is told (after start).
            self.mcp_servers = ()
            self.diagnostics.add(f"aegis: {self._no_mcp_warning()}")

    def _no_mcp_warning(self) -> str:
        names = ", ".join(server.name for server in self.options.mcp_servers)
        return (
            f"{self.label} does not offer MCP over HTTP (mcpCapabilities.http in its "
            f"initialize answer): the session runs without the MCP servers {names}, so "
            "its agent cannot use aegis's tools"
        )

    async def _open_session(self, client: AcpClient) -> None:
        cwd, servers = self.cwd, self.mcp_servers
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
            raise DriverError(f"{self.label} cannot resume sessions (no loadSession capability)")
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

    def _cancel_overdue_turn(self, scope: anyio.CancelScope) -> None:
        self._cancel_overdue = True
        scope.cancel()

    def _on_update(self, session_id: str, update: dict[str, Any]) -> None:
        if session_id != self.state.session_id:
            self.diagnostics.add(f"aegis: ignored an update for another session {session_id!r}")
            return
        self._update_arrived.set()
        self.translator.handle(update)

    def _on_permission(
        self, session_id: str, tool_call: dict[str, Any], kind: ToolKind, verdict: Verdict
    ) -> None:
        if session_id == self.state.session_id:
            message = None if verdict.allowed else verdict.message
            self.translator.permission_asked(tool_call, allowed=verdict.allowed, refusal=message)
            if message and verdict.asked and self._turn_scope is not None:
                self._refusals.append(f"{self.translator.describe(tool_call)[0]}: {message}")

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


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _refused(reasons: list[str]) -> str:
    """The message that tells the agent why a person refused its tools."""
    lines = "\n".join(f"- {reason}" for reason in reasons)
    return f"[aegis] A person refused your tool call(s), saying:\n{lines}"
