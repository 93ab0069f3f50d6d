"""What a session is, as seen from outside: its state and a snapshot of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from aegis.events import Usage


class SessionState(str, Enum):
    """The life of a session: starting → ready ⇄ busy → closed (or failed)."""

    starting = "starting"
    ready = "ready"
    busy = "busy"
    closed = "closed"
    failed = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def live(self) -> bool:
        """Whether the session can still take messages."""
        return self in (SessionState.starting, SessionState.ready, SessionState.busy)


@dataclass(frozen=True)
class SessionInfo:
    """A snapshot of one session."""

    handle: str
    profile: str
    provider: str
    state: SessionState
    harness_session_id: str | None
    usage: Usage = field(default_factory=Usage)
    cwd: Path | None = None
    model: str | None = None
    queued: int = 0
    """Messages waiting in the inbox."""
    error: str | None = None
    """Why the session failed, when it did."""
    worktree: str | None = None
    """The name of the git worktree it works in (``workspace="worktree"``), else ``None``."""
    branch: str | None = None
    """The branch of that worktree (``aegis/<name>``)."""
    started_by: str | None = None
    """Who started it, as its spawner said: ``queue:<name>`` (a queue's worker),
    ``workflow:<run id>``, ``agent:<handle>`` (an agent's helper), a client (``client:ask``);
    ``None`` when not said."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "profile": self.profile,
            "provider": self.provider,
            "state": self.state.value,
            "harness_session_id": self.harness_session_id,
            "model": self.model,
            "cwd": str(self.cwd) if self.cwd else None,
            "queued": self.queued,
            "error": self.error,
            "worktree": self.worktree,
            "branch": self.branch,
            "usage": {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "cache_read_tokens": self.usage.cache_read_tokens,
                "cache_write_tokens": self.usage.cache_write_tokens,
                "cost_usd": self.usage.cost_usd,
            },
        }
