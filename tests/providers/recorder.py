"""Recording a driver's events in tests, and waiting for one of a kind without polling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from aegis.events import Event

E = TypeVar("E")


@dataclass
class Recorder:
    """Collects a session's events; :meth:`seen` waits for one of a kind without polling."""

    events: list[Event] = field(default_factory=list)
    _waiting: dict[type[Any], anyio.Event] = field(default_factory=dict)

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        waiter = self._waiting.pop(type(event), None)
        if waiter is not None:
            waiter.set()

    async def seen(self, kind: type[Any], since: int = 0) -> None:
        while not any(isinstance(e, kind) for e in self.events[since:]):
            await self._waiting.setdefault(kind, anyio.Event()).wait()

    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> list[Event]:
        return self.events[mark:]

    def of(self, kind: type[E], since: int = 0) -> list[E]:
        return [e for e in self.events[since:] if isinstance(e, kind)]
