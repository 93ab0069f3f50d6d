"""Answering permission requests at the terminal: ``aegis ask``, ``chat`` and ``attach``.

A session's ``permission_request`` event (see ``docs/approvals.md``) is shown by the
renderer wherever the output goes. When standard input and standard error are a
terminal, :class:`Approver` also asks the person at it::

    allow [o]nce, for the [s]ession, or [d]eny? d
    reason (the agent is told): not on main

and sends the answer (through the daemon, or to the runtime of this process). Another
client may answer first, or the request may time out: its ``permission_answer`` event
then ends the prompt. Elsewhere (a pipe, a file) nothing is asked: the request waits
for another client, or its timeout.

prompt_toolkit is imported only when a prompt is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import click

from aegis.events import PermissionAnswer, PermissionRequest

if TYPE_CHECKING:
    from aegis.approvals import ApprovalRegistry

Answer = Callable[[str, str, str], Awaitable[tuple[bool, PermissionAnswer]]]
"""Sends ``(approval_id, decision, reason)``; returns whether it was taken, and the answer
that holds."""

CHOICES = {"o": "allow_once", "s": "allow_session", "d": "deny"}


def local_answer(registry: ApprovalRegistry) -> Answer:
    """The :data:`Answer` of a runtime of this process (``aegis --no-daemon``)."""

    async def answer(approval_id: str, decision: str, reason: str) -> tuple[bool, PermissionAnswer]:
        return registry.answer(approval_id, decision, reason, by="user")

    return answer


def can_prompt() -> bool:
    """Whether a person can be asked here: stdin and stderr are a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


class Approver:
    """Asks the person at the terminal about each permission request, one at a time.

    Where nobody can be asked (``prompting`` false), a request of a daemon's session
    (``through_daemon``) is shown with the ``aegis approvals`` command that answers it,
    and one of this process's with a note that only its timeout will end it.
    """

    def __init__(
        self, answer: Answer, *, prompting: bool | None = None, through_daemon: bool = True
    ) -> None:
        self.answer = answer
        self.prompting = can_prompt() if prompting is None else prompting
        self.through_daemon = through_daemon
        self._settled: set[str] = set()
        self._asking: dict[str, anyio.CancelScope] = {}
        self._lock = anyio.Lock()

    def settle(self, answer: PermissionAnswer) -> None:
        """The request ``answer.id`` is answered: stop asking about it."""
        self._settled.add(answer.id)
        scope = self._asking.get(answer.id)
        if scope is not None:
            scope.cancel()

    def say_how(self, request: PermissionRequest) -> None:
        """Where nobody is asked (a pipe, a script), say how to answer ``request`` from
        another terminal, when that is possible (a daemon's session)."""
        if self.prompting:
            return
        if self.through_daemon:
            how = (
                f"answer it from a terminal: aegis approvals {request.id} allow, "
                "session, or deny REASON"
            )
        else:  # the request lives in this process: no other client can reach it
            how = (
                f"nobody can answer it here (no terminal, no daemon): it is refused in "
                f"{request.timeout_s:g} s; run without --no-daemon to answer from elsewhere"
            )
        click.secho(f"  {how}", dim=True, err=True)

    async def handle(self, request: PermissionRequest) -> None:
        """Ask about ``request`` (unless it is answered meanwhile) and send the answer."""
        if not self.prompting:
            return
        async with self._lock:
            if request.id in self._settled:
                return
            with anyio.CancelScope() as scope:
                self._asking[request.id] = scope
                try:
                    choice = await self._ask()
                finally:
                    del self._asking[request.id]
            if scope.cancelled_caught or choice is None:
                return
            try:
                taken, holding = await self.answer(request.id, *choice)
            except Exception as exc:  # the daemon went away, the request was forgotten
                click.secho(f"  (the answer was not taken: {exc})", fg="red", err=True)
                return
            if not taken:
                click.secho(
                    f"  (already answered: {holding.decision} by {holding.by})", dim=True, err=True
                )

    async def _ask(self) -> tuple[str, str] | None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.output import create_output

        session: PromptSession[str] = PromptSession(output=create_output(stdout=sys.stderr))
        while True:
            try:
                typed = await session.prompt_async(
                    "allow [o]nce, for the [s]ession, or [d]eny? ", handle_sigint=False
                )
            except (EOFError, KeyboardInterrupt):
                return None  # left to another client, or the timeout
            decision = CHOICES.get(typed.strip().lower()[:1])
            if decision is None:
                continue
            if decision != "deny":
                return decision, ""
            try:
                reason = await session.prompt_async(
                    "reason (the agent is told): ", handle_sigint=False
                )
            except (EOFError, KeyboardInterrupt):
                reason = ""
            return decision, reason.strip()
