"""The driver contract: one live harness session, spoken to over its protocol.

A provider opens a :class:`Driver` for each session (``Provider.open_driver``).
The session layer uses it like this, inside one task::

    async with provider.open_driver(agent, options) as driver:
        started = await driver.start()          # spawn + handshake (+ resume)
        end = await driver.prompt("hello")      # events stream through options.emit
        ...
        await driver.interrupt()                # from another task, during a turn

Rules every driver follows (the conformance tests check them):

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
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from aegis.events import Event, SessionStarted, TurnEnd
from aegis.process import Diagnostics


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

    def child_env(self, profile_env: Mapping[str, str]) -> dict[str, str]:
        """The environment of the CLI process: ours, then the profile's, then ``env``."""
        return {**os.environ, **profile_env, **self.env}


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
