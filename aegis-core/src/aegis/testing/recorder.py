"""Recording a driver's events in tests, and waiting for one of a kind without polling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from aegis.events import Event

E = TypeVar("E")


@dataclass
class Recorder:
    """Collects a session's events: pass it as :class:`~aegis.driver.SessionOptions`'s ``emit``.

    :meth:`mark` and :meth:`since` cut out one turn's events; :meth:`seen` waits for an
    event of a kind without polling.
    """

    events: list[Event] = field(default_factory=list)
    _waiting: dict[type[Any], anyio.Event] = field(default_factory=dict)

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        waiter = self._waiting.pop(type(event), None)
        if waiter is not None:
            waiter.set()

    async def seen(self, kind: type[Any], since: int = 0) -> None:
        """Return once an event of ``kind`` was recorded at or after position ``since``."""
        while not any(isinstance(e, kind) for e in self.events[since:]):
            await self._waiting.setdefault(kind, anyio.Event()).wait()

    def mark(self) -> int:
        """The current position, for :meth:`since` and ``of(kind, since)``."""
        return len(self.events)

    def since(self, mark: int) -> list[Event]:
        """The events recorded since ``mark``."""
        return self.events[mark:]

    def of(self, kind: type[E], since: int = 0) -> list[E]:
        """The recorded events of ``kind`` (from position ``since``)."""
        return [e for e in self.events[since:] if isinstance(e, kind)]
