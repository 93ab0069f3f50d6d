"""The runtime's pending approvals: requests waiting for a person, answered once.

Every session's :class:`~aegis.approvals.gate.PermissionGate` asks through the
runtime's :class:`ApprovalRegistry` (``Runtime.approvals``). Asking puts a
:class:`~aegis.events.PermissionRequest` in the session's event stream (so every
attached frontend, through the daemon's event stream, sees it), sends a notification,
and waits. The first answer wins (:meth:`ApprovalRegistry.answer`, from any client);
a later one is told the first. With no answer after the profile's timeout the request
is refused with a reason the agent sees. Whatever ends the wait, a
:class:`~aegis.events.PermissionAnswer` of the same id follows in the stream: a
request is never left open.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from aegis.approvals.gate import Asker, ToolPermission
from aegis.events import Event, PermissionAnswer, PermissionRequest

if TYPE_CHECKING:
    from aegis.notify import Notification

log = logging.getLogger("aegis.approvals")

DECISIONS = ("allow_once", "allow_session", "deny")
"""The answers a person may give."""

SETTLED_KEPT = 256
"""How many settled approvals are remembered, to tell a late second answer the first."""

Notify = Callable[[str, PermissionRequest], None]
"""Told of each new request, with its session's handle (sends the notification)."""


def approval_notification(session: str, request: PermissionRequest) -> Notification:
    """The ``approval_needed`` notification of ``request`` by session ``session``."""
    from aegis.notify import Notification

    what = request.title or request.name
    return Notification(
        kind="approval_needed",
        title=f"{session} asks to run {request.name}",
        body=f"{what}\n(rule {request.rule!r}; refused in {request.timeout_s:g} s without "
        f"an answer)",
        session=session,
        approval_id=request.id,
    )


class UnknownApproval(LookupError):
    """No approval has this id."""


class BadDecision(ValueError):
    """An answer that is not one of :data:`DECISIONS`."""


@dataclass(eq=False)
class PendingApproval:
    """A request waiting for its answer."""

    session: str
    request: PermissionRequest
    at: float = field(default_factory=time.time)
    """When it was asked (seconds since the epoch)."""
    answer: PermissionAnswer | None = None
    answered: anyio.Event = field(default_factory=anyio.Event)

    def as_dict(self) -> dict[str, object]:
        """The protocol's view of it (``GET /v1/approvals``)."""
        from aegis.events import to_dict

        return {
            "id": self.request.id,
            "session": self.session,
            "at": self.at,
            "expires_at": self.at + self.request.timeout_s,
            "request": to_dict(self.request),
        }


class ApprovalRegistry:
    """The runtime's pending approvals (see the module documentation)."""

    def __init__(self, notify: Notify | None = None) -> None:
        self.notify = notify
        """Called for each new request (the runtime sends an ``approval_needed``
        notification)."""
        self._pending: dict[str, PendingApproval] = {}
        self._settled: OrderedDict[str, PermissionAnswer] = OrderedDict()
        self._changed = anyio.Event()

    # --- what frontends see and do ------------------------------------------------------

    def pending(self, session: str | None = None) -> list[PendingApproval]:
        """The requests waiting for an answer, oldest first (of one session, or all)."""
        return [p for p in self._pending.values() if session is None or p.session == session]

    def answer(
        self, approval_id: str, decision: str, reason: str = "", by: str = "user"
    ) -> tuple[bool, PermissionAnswer]:
        """Answer approval ``approval_id``; returns whether this answer was taken, and the
        answer that holds (the first one given).

        Raises :class:`UnknownApproval` for an id never asked (or long forgotten), and
        :class:`BadDecision` for a decision not in :data:`DECISIONS`.
        """
        if decision not in DECISIONS:
            raise BadDecision(f"{decision!r} is no answer: use one of {', '.join(DECISIONS)}")
        settled = self._settled.get(approval_id)
        if settled is not None:
            return False, settled
        pending = self._pending.get(approval_id)
        if pending is None:
            raise UnknownApproval(f"no approval {approval_id!r}")
        if pending.answer is not None:
            return False, pending.answer
        pending.answer = PermissionAnswer(approval_id, decision, reason.strip(), by)
        pending.answered.set()
        return True, pending.answer

    async def changed(self) -> None:
        """Wait for the next request or answer."""
        await self._changed.wait()

    # --- what sessions do ---------------------------------------------------------------

    def asker(self, session: str, emit: Callable[[Event], None]) -> Asker:
        """The :data:`~aegis.approvals.gate.Asker` of session ``session``, whose events
        go to ``emit``."""

        async def ask(tool: ToolPermission, rule: str, timeout: float) -> PermissionAnswer:
            return await self.ask(session, emit, tool, rule, timeout)

        return ask

    async def ask(
        self,
        session: str,
        emit: Callable[[Event], None],
        tool: ToolPermission,
        rule: str,
        timeout: float,
    ) -> PermissionAnswer:
        """Ask a person about ``tool`` and wait (at most ``timeout`` seconds) for the answer."""
        approval_id = secrets.token_hex(6)
        request = PermissionRequest(
            id=approval_id,
            tool_call_id=tool.tool_call_id,
            name=tool.name,
            kind=tool.kind,
            input=dict(tool.input),
            paths=tool.paths,
            title=tool.title,
            options=tool.options,
            rule=rule,
            timeout_s=timeout,
        )
        pending = PendingApproval(session, request)
        self._pending[approval_id] = pending
        emit(request)
        self._touch()
        if self.notify is not None:
            try:
                self.notify(session, request)
            except Exception:  # a notification must never cost the request
                log.exception("could not send the notification of approval %s", approval_id)
        try:
            with anyio.move_on_after(timeout):
                await pending.answered.wait()
            if pending.answer is None:
                pending.answer = PermissionAnswer(
                    approval_id,
                    "deny",
                    f"nobody answered this permission request within {timeout:g} s, so aegis "
                    "refused it; do not retry it, go on without it or ask for it in your reply",
                    by="aegis",
                )
        finally:
            if pending.answer is None:  # the wait was cancelled: the turn or session ended
                pending.answer = PermissionAnswer(
                    approval_id, "deny", "the turn ended before anyone answered", by="aegis"
                )
            del self._pending[approval_id]
            self._settled[approval_id] = pending.answer
            while len(self._settled) > SETTLED_KEPT:
                self._settled.popitem(last=False)
            emit(pending.answer)
            self._touch()
        return pending.answer

    def _touch(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
