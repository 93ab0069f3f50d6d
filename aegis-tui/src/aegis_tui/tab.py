"""One tab's view of its session: state, totals, timings, and messages not yet delivered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aegis.events import (
    AssistantMessage,
    Error,
    Event,
    PermissionAnswer,
    PermissionRequest,
    SessionStarted,
    StateChanged,
    TextDelta,
    Thinking,
    ToolCall,
    ToolResult,
    TurnEnd,
    Usage,
    UserMessage,
)

STATE_DOTS: dict[str, tuple[str, str]] = {
    "starting": ("◌", "yellow"),
    "ready": ("●", "green"),
    "busy": ("◉", "dodger_blue1"),
    "failed": ("✖", "red"),
    "closed": ("○", "grey50"),
}
"""The dot each session state shows in the tab bar, and its colour."""

TERMINAL_DOT = ("▣", "green")
"""What a terminal tab shows instead of a state dot while its shell runs."""

TERMINAL_PROFILE = "terminal"
"""What a terminal tab says where a session's tab says its profile."""


Clock = Callable[[], float]
"""Seconds on a monotonic clock (injected, so that tests see fixed times)."""


@dataclass
class Tab:
    """The state of one tab, kept from its session's events."""

    handle: str
    profile: str
    provider: str
    model: str | None
    permission: str
    opened_at: float
    state: str = "starting"
    harness_session_id: str | None = None
    unseen: bool = False
    """Output arrived while another tab was shown."""
    pending: list[str] = field(default_factory=list)
    """Messages typed here while the agent was busy, oldest first: the app sends the
    next one when the session is ready again (escape gives them back to the input box)."""
    usage: Usage = field(default_factory=Usage)
    """Totals over every turn of the transcript (earlier runs included)."""
    turn_started: float | None = None
    last_turn: float | None = None
    """Seconds the last finished turn took."""
    error: str | None = None
    title: str | None = None
    """The name the user gave the tab (``None``: its handle names it)."""
    activity: str | None = None
    """What the agent is doing in the running turn: ``thinking``, ``running bash``, ``writing``."""
    needs: dict[str, PermissionRequest] = field(default_factory=dict)
    """The session's permission requests waiting for a person, oldest first, by id."""
    asking: bool = False
    """The agent asked a person a question (``aegis_ask_human``) not answered yet."""
    terminal: str | None = None
    """The name of the shared terminal a terminal tab shows (``None``: a session's tab)."""

    @property
    def name(self) -> str:
        """What the tab bar calls the tab."""
        return self.title or self.terminal or self.handle

    @property
    def live(self) -> bool:
        return self.state in ("starting", "ready", "busy")

    def dot(self) -> tuple[str, str]:
        if self.terminal is not None:
            return TERMINAL_DOT if self.live else STATE_DOTS["closed"]
        return STATE_DOTS.get(self.state, ("?", "white"))

    def replay(self, event: Event) -> None:
        """Take an event of an earlier run (restored from the transcript): totals only."""
        if isinstance(event, TurnEnd) and event.usage is not None:
            self.usage = self.usage + event.usage

    def apply(self, event: Event, now: float) -> None:
        """Take a live event of the session."""
        if isinstance(event, StateChanged):
            self._state(event.state, now)
        elif isinstance(event, SessionStarted):
            self.harness_session_id = event.harness_session_id
            self.model = event.model or self.model
        elif isinstance(event, TurnEnd):
            if event.usage is not None:
                self.usage = self.usage + event.usage
        elif isinstance(event, Error) and event.fatal:
            self.error = event.message
        elif isinstance(event, PermissionRequest):
            self.needs[event.id] = event
        elif isinstance(event, PermissionAnswer):
            self.needs.pop(event.id, None)
        if self.state == "busy":
            self.activity = activity_after(event, self.activity)

    def _state(self, state: str, now: float) -> None:
        if state == "busy" and self.state != "busy":
            self.turn_started = now
            self.activity = "thinking"  # until the model says otherwise
        elif self.state == "busy" and state != "busy" and self.turn_started is not None:
            self.last_turn = now - self.turn_started
            self.turn_started = None
        if state != "busy":
            self.activity = None
        self.state = state
        if state in ("closed", "failed"):
            self.pending.clear()  # the session manager answered them with an error turn
            self.needs.clear()  # refused by aegis as the session ended

    def turn_time(self, now: float) -> float | None:
        """Seconds of the turn running now, else of the last one (``None``: no turn yet)."""
        if self.turn_started is not None:
            return now - self.turn_started
        return self.last_turn

    def session_time(self, now: float) -> float:
        return now - self.opened_at

    def badge(self) -> str:
        """``provider/model`` (or the provider alone when the CLI picks the model; nothing
        for a terminal tab)."""
        if self.terminal is not None:
            return ""
        return f"{self.provider}/{self.model}" if self.model else self.provider


def activity_after(event: Event, activity: str | None) -> str | None:
    """What an agent is doing once ``event`` of its turn arrived (``activity`` before it)."""
    if isinstance(event, ToolCall):
        return f"running {event.name}"
    if isinstance(event, (Thinking, ToolResult, UserMessage)):
        return "thinking"
    if isinstance(event, (TextDelta, AssistantMessage)):
        return "writing"
    return activity


def terminal_tab(name: str, now: float) -> Tab:
    """The tab of shared terminal ``name`` (its handle ``terminal:<name>`` is no session's)."""
    return Tab(
        handle=f"terminal:{name}",
        profile=TERMINAL_PROFILE,
        provider="terminal",
        model=None,
        permission="-",
        opened_at=now,
        state="ready",
        terminal=name,
    )
