"""One session: its state machine, its inbox, its subscribers and its totals."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from aegis.config.agent import Agent
from aegis.driver import Driver
from aegis.events import (
    Error,
    Event,
    SessionStarted,
    StateChanged,
    StopReason,
    TurnEnd,
    Usage,
    UserMessage,
)
from aegis.process import Diagnostics
from aegis.session.info import SessionInfo, SessionState
from aegis.workspace.worktree import WorktreeRecord

log = logging.getLogger("aegis.session")


@dataclass(eq=False)
class Delivery:
    """A message in an inbox, and (once its turn is over) how that turn ended."""

    text: str
    sender: str
    done: anyio.Event = field(default_factory=anyio.Event)
    result: TurnEnd | None = None

    def finish(self, result: TurnEnd) -> None:
        self.result = result
        self.done.set()


class Session:
    """A live (or ended) session of one agent profile.

    The session's own task (run by the manager) owns the driver; everything else
    talks to the session through its inbox and reads its state.
    """

    def __init__(
        self,
        handle: str,
        profile: str,
        agent: Agent,
        cwd: Path,
        sink: Callable[[Session, Event], None],
        *,
        seq: int = 0,
        worktree: WorktreeRecord | None = None,
        started_by: str | None = None,
    ) -> None:
        """``seq``: the number of the handle's last event so far (a resumed session's
        numbers go on from its earlier run's). ``worktree``: the git worktree it works
        in, if its workspace is one. ``started_by``: who started it, if said."""
        self.handle = handle
        self.profile = profile
        self.agent = agent
        self.cwd = cwd
        self.worktree = worktree
        self.started_by = started_by
        self.state = SessionState.starting
        self.harness_session_id: str | None = None
        self.model: str | None = agent.model
        self.usage = Usage()
        self.error: str | None = None
        self.diagnostics = Diagnostics()
        self.driver: Driver | None = None
        # Shielded: the session ends when it is closed (close, close_all), not when
        # whatever surrounds the manager is cancelled (Ctrl+C, SIGTERM): a stopping
        # aegis lets queue tasks finish within their grace before closing sessions.
        self.scope = anyio.CancelScope(shield=True)
        self.finished = anyio.Event()
        self.seq = seq
        self._sink = sink
        self._changed = anyio.Event()
        self._inbox_send: MemoryObjectSendStream[Delivery]
        self._inbox: MemoryObjectReceiveStream[Delivery]
        self._inbox_send, self._inbox = anyio.create_memory_object_stream[Delivery](math.inf)
        self._waiting: list[Delivery] = []
        self._current: Delivery | None = None

    # --- what others see ------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Messages in the inbox, not yet delivered."""
        return len(self._waiting)

    @property
    def idle(self) -> bool:
        """Nothing in progress and nothing waiting (or the session is over)."""
        if not self.state.live:
            return True
        return self.state is SessionState.ready and not self._waiting

    def info(self) -> SessionInfo:
        return SessionInfo(
            handle=self.handle,
            profile=self.profile,
            provider=self.agent.harness,
            state=self.state,
            harness_session_id=self.harness_session_id,
            usage=self.usage,
            cwd=self.cwd,
            model=self.model,
            queued=self.queued,
            error=self.error,
            worktree=self.worktree.name if self.worktree else None,
            branch=self.worktree.branch if self.worktree else None,
            started_by=self.started_by,
        )

    async def changed(self) -> None:
        """Wait for the next change of state or inbox."""
        await self._changed.wait()

    def _notify_change(self) -> None:
        event, self._changed = self._changed, anyio.Event()
        event.set()

    # --- events -----------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Record an event of this session and pass it to the transcript and subscribers."""
        if isinstance(event, SessionStarted):
            self.harness_session_id = event.harness_session_id
            self.model = event.model or self.model
        self.seq += 1
        self._sink(self, event)

    def set_state(self, state: SessionState) -> None:
        if state is not self.state:
            self.state = state
            self.emit(StateChanged(state.value))
        self._notify_change()

    def fail(self, message: str) -> None:
        """The session cannot go on: say why, once, and mark it failed."""
        if self.state is SessionState.failed:
            return
        self.error = message
        self.emit(Error(message, fatal=True))
        self.set_state(SessionState.failed)

    # --- the inbox ----------------------------------------------------------------------

    def put(self, delivery: Delivery) -> None:
        self._waiting.append(delivery)
        self._inbox_send.send_nowait(delivery)
        self._notify_change()

    async def serve(self, driver: Driver, on_turn: Callable[[TurnEnd], None]) -> None:
        """Deliver inbox messages in order, one turn each, until the session fails."""
        async for delivery in self._inbox:
            if delivery.done.is_set():  # withdrawn while it waited
                continue
            self._waiting.remove(delivery)
            self._current = delivery
            self.set_state(SessionState.busy)
            self.emit(UserMessage(delivery.text, delivery.sender))
            end = await driver.prompt(delivery.text)
            self._current = None
            if end.usage is not None:
                self.usage = self.usage + end.usage
            delivery.finish(end)
            on_turn(end)
            if driver.failed:
                self.fail(driver.failed)
                return
            if not self._waiting:
                self.set_state(SessionState.ready)

    def withdraw(self, delivery: Delivery) -> bool:
        """Take ``delivery`` out of the inbox, answered as cancelled, if it still waits there.

        Returns ``False`` when its turn has begun (or ended): :attr:`current` tells which.
        """
        if delivery not in self._waiting:
            return False
        self._waiting.remove(delivery)
        delivery.finish(TurnEnd(StopReason.cancelled, error="withdrawn before it was delivered"))
        self._notify_change()
        return True

    @property
    def current(self) -> Delivery | None:
        """The message whose turn runs now."""
        return self._current

    def undelivered(self, reason: str) -> list[Delivery]:
        """End the inbox: the turn in flight (if the session ended during it) and every
        waiting message are answered with an error turn. Returns the waiting ones."""
        self._inbox_send.close()
        if self._current is not None and not self._current.done.is_set():
            self._current.finish(TurnEnd(StopReason.error, error=reason))
        self._current = None
        left, self._waiting = self._waiting, []
        for delivery in left:
            delivery.finish(TurnEnd(StopReason.error, error=reason))
        return left
