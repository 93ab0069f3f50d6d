"""Helpers: the sessions agents spawned, who spawned each, and closing them with their owner.

An agent spawns a helper session with the ``aegis_spawn`` MCP tool; the
:class:`HelperLedger` records it as the caller's. Ownership is what lets an agent
close or interrupt a session (an agent whose profile has ``orchestrate="any"`` may
stop any), and a helper is closed when its owner's session ends (closed or failed),
unless it was spawned with ``keep``. A helper's own helpers are closed with it, and
so on down.

The ledger lives as long as the runtime, in memory: the sessions it records do not
outlive the runtime either.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from aegis.lifespan import Lifespan

if TYPE_CHECKING:
    from aegis.session.manager import SessionManager

log = logging.getLogger("aegis.session")


@dataclass(frozen=True)
class Helper:
    """A session an agent spawned."""

    handle: str
    owner: str
    """The handle of the session that spawned it."""
    profile: str
    keep: bool
    """Whether it outlives its owner."""


class HelperLedger(Lifespan):
    """Who spawned which session, and the closing of helpers with their owner.

    Enter it after the session manager (the runtime does); while it runs, a helper
    whose owner ends is closed.
    """

    def __init__(self, sessions: SessionManager) -> None:
        self.sessions = sessions
        self._helpers: dict[str, Helper] = {}

    def record(self, handle: str, *, owner: str, profile: str, keep: bool = False) -> Helper:
        """Record session ``handle`` as spawned by session ``owner``."""
        helper = Helper(handle, owner, profile, keep)
        self._helpers[handle] = helper
        return helper

    def owner_of(self, handle: str) -> str | None:
        """The handle of the session that spawned ``handle`` (``None``: no agent did)."""
        helper = self._helpers.get(handle)
        return helper.owner if helper is not None else None

    def helpers_of(self, owner: str, *, live: bool = True) -> list[Helper]:
        """The sessions ``owner`` spawned, in spawn order (by default the live ones)."""
        return [
            h for h in self._helpers.values() if h.owner == owner and (not live or self._live(h))
        ]

    def _live(self, helper: Helper) -> bool:
        try:
            return self.sessions.get(helper.handle).state.live
        except LookupError:
            return False

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            await tg.start(self._close_with_owners, tg)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def _close_with_owners(
        self, tg: anyio.abc.TaskGroup, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        from aegis.events import StateChanged

        # The receive side is closed here too: the manager closes only its sending side.
        with self.sessions.subscribe() as events, events:
            task_status.started()
            async for handle, event in events:
                if not isinstance(event, StateChanged) or event.state not in ("closed", "failed"):
                    continue
                for helper in self.helpers_of(handle):
                    if not helper.keep:
                        tg.start_soon(self._close, helper, name=f"close helper {helper.handle}")

    async def _close(self, helper: Helper) -> None:
        log.info("closing %s: its owner %s has ended", helper.handle, helper.owner)
        try:
            await self.sessions.close(helper.handle)
        except Exception:  # one helper that fails to close must not stop the others
            log.exception("could not close helper %s", helper.handle)
