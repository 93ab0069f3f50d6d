"""Groups: one message to several sessions, waiting for all their replies or the first.

Used by :meth:`aegis.workflow.WorkflowEngine.group` and by the ``aegis_group`` MCP
tool. Each target gets the message as a new turn (after what waits in its inbox);
the reply of a target is the final assistant text of that turn. Replies come back
in the order of the targets, whatever order they arrived in::

    replies = await ask_group(sessions, ["alice", "bob"], "Review the diff",
                              sender="workflow:r1", wait="all", max_concurrency=1)
    [r.text for r in replies if r.ok]

``max_concurrency`` sends to at most that many targets at a time (the next one gets
the message when one of them has answered). ``wait="first"`` returns once one target
has answered successfully; ``timeout`` bounds the whole group. Either way the turns
still running are stopped (a message still waiting in a target's inbox is taken
back, a running turn is interrupted), and targets not yet sent to are not sent to.

An agent's group (``sender`` ``agent:<handle>``) holds that agent's turn until the
answers come, and a target's answer is the end of a turn of its own: a target that
is itself waiting, directly or through others, for the asking agent could answer
only after the timeout. Such a group is refused before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from weakref import WeakKeyDictionary

import anyio

from aegis.session.session import Delivery

if TYPE_CHECKING:
    from aegis.session.manager import SessionManager

GroupStatus = Literal["ok", "failed", "timeout", "cancelled", "skipped"]
GroupWait = Literal["all", "first"]

WITHDRAW_TIMEOUT_S = 5.0
"""How long stopping one target's turn may take (its CLI answers an interrupt in
milliseconds; one that does not is left to end its turn by itself)."""


class GroupError(ValueError):
    """The group cannot be sent as asked: no targets, one repeated, one not live, a bad
    option. Nothing was sent."""


@dataclass(frozen=True)
class GroupReply:
    """What one target of a group answered.

    ``status``: ``ok`` (its turn ended well; ``text`` is its final text), ``failed``
    (its turn failed or the message was refused; ``error`` says why), ``timeout``
    (the group's timeout came first; its turn was stopped), ``cancelled`` (another
    target answered first, with ``wait="first"``; its turn was stopped) or
    ``skipped`` (never sent: the group was over before its turn under the cap).
    """

    handle: str
    status: GroupStatus
    text: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the target answered."""
        return self.status == "ok"


def check_group(
    sessions: SessionManager,
    handles: Sequence[str],
    *,
    wait: str = "all",
    max_concurrency: int | None = None,
    timeout: float | None = None,
) -> None:
    """Raise :class:`GroupError` unless every handle is a distinct live session and the
    options make sense."""
    if wait not in ("all", "first"):
        raise GroupError(f"wait must be 'all' or 'first', not {wait!r}")
    if max_concurrency is not None and max_concurrency < 1:
        raise GroupError(f"max_concurrency must be at least 1, not {max_concurrency}")
    if timeout is not None and not timeout > 0:
        raise GroupError(f"timeout must be a positive number of seconds, not {timeout}")
    if not handles:
        raise GroupError("a group needs at least one target")
    repeated = sorted({h for h in handles if list(handles).count(h) > 1})
    if repeated:
        raise GroupError(f"each target may appear once; repeated: {', '.join(repeated)}")
    live = {info.handle for info in sessions.list_sessions() if info.state.live}
    missing = [h for h in handles if h not in live]
    if missing:
        shown = ", ".join(sorted(live)) or "none"
        raise GroupError(f"not live sessions: {', '.join(missing)} (live sessions: {shown})")


async def ask_group(
    sessions: SessionManager,
    handles: Sequence[str],
    message: str,
    *,
    sender: str,
    wait: GroupWait = "all",
    max_concurrency: int | None = None,
    timeout: float | None = None,
) -> list[GroupReply]:
    """Send ``message`` (tagged ``sender``) to each of ``handles``; return their replies
    in the order of ``handles``. See the module documentation.

    Raises :class:`GroupError` (nothing sent) when a handle is not a live session,
    repeated, or an option is wrong. Cancelling the call stops the turns it started.
    """
    check_group(sessions, handles, wait=wait, max_concurrency=max_concurrency, timeout=timeout)
    with _waiting(sessions, sender, handles):
        return await _ask(sessions, handles, message, sender, wait, max_concurrency, timeout)


_WAITS: WeakKeyDictionary[SessionManager, list[tuple[str, frozenset[str]]]] = WeakKeyDictionary()
"""Per session manager: (agent, targets) of each agent's group under way."""


@contextmanager
def _waiting(sessions: SessionManager, sender: str, handles: Sequence[str]) -> Iterator[None]:
    """Record that agent ``sender`` waits for ``handles`` for the block, after refusing
    with :class:`GroupError` a target that waits for the agent (which would never answer
    in time). Senders other than agents (a workflow) wait without a turn of their own."""
    if not sender.startswith("agent:"):
        yield
        return
    waiter = sender.removeprefix("agent:")
    waits = _WAITS.setdefault(sessions, [])
    for target in handles:
        chain = _waits_for(waits, target, waiter)
        if chain:
            through = "".join(f" through {h}" for h in chain[1:-1])
            raise GroupError(
                f"{target} is waiting{through} for your answer (aegis_group): it cannot "
                "answer you before your turn has ended, so this would only wait until the "
                f"timeout. End your turn first, or leave {target} out"
            )
    entry = (waiter, frozenset(handles))
    waits.append(entry)
    try:
        yield
    finally:
        waits.remove(entry)


def _waits_for(waits: list[tuple[str, frozenset[str]]], start: str, goal: str) -> list[str] | None:
    """The chain of agents from ``start`` to ``goal``, each waiting for the next, if any."""
    chains = [[start]]
    seen = {start}
    while chains:
        chain = chains.pop(0)
        for waiter, targets in waits:
            if waiter != chain[-1]:
                continue
            if goal in targets:
                return [*chain, goal]
            for target in targets - seen:
                seen.add(target)
                chains.append([*chain, target])
    return None


async def _ask(
    sessions: SessionManager,
    handles: Sequence[str],
    message: str,
    sender: str,
    wait: GroupWait,
    max_concurrency: int | None,
    timeout: float | None,
) -> list[GroupReply]:
    replies: list[GroupReply | None] = [None] * len(handles)
    sent: list[Delivery | None] = [None] * len(handles)
    limiter = anyio.CapacityLimiter(max_concurrency or len(handles))

    async def one(index: int, handle: str, group: anyio.CancelScope) -> None:
        async with limiter:
            if group.cancel_called:  # over while this one waited for its place
                return
            try:
                delivery = sessions.submit(handle, message, sender)
            except Exception as exc:  # ended meanwhile, or refused by a before_send hook
                replies[index] = GroupReply(handle, "failed", error=str(exc))
                return
            sent[index] = delivery
            try:
                await delivery.done.wait()
            finally:
                if not delivery.done.is_set():
                    with anyio.CancelScope(shield=True), anyio.move_on_after(WITHDRAW_TIMEOUT_S):
                        await sessions.withdraw(handle, delivery)
            # Decided before the place is given up, so that no next target is sent to.
            reply = replies[index] = _answered(handle, delivery)
            if wait == "first" and reply.ok:
                group.cancel()

    with anyio.move_on_after(math.inf if timeout is None else timeout) as timer:
        async with anyio.create_task_group() as tg:
            for index, handle in enumerate(handles):
                tg.start_soon(one, index, handle, tg.cancel_scope)
    late: GroupStatus = "timeout" if timer.cancelled_caught else "cancelled"
    return [
        replies[index] or _unanswered(handle, sent[index], late, timeout)
        for index, handle in enumerate(handles)
    ]


def _answered(handle: str, delivery: Delivery) -> GroupReply:
    end = delivery.result
    assert end is not None
    if end.ok:
        return GroupReply(handle, "ok", text=end.text)
    return GroupReply(
        handle, "failed", text=end.text or None, error=end.error or end.stop_reason.value
    )


def _unanswered(
    handle: str, delivery: Delivery | None, late: GroupStatus, timeout: float | None
) -> GroupReply:
    """The reply of a target whose wait the group's end cut short."""
    if delivery is None:
        return GroupReply(handle, "skipped", error="not sent: the group was over before its turn")
    if delivery.done.is_set() and delivery.result is not None and delivery.result.ok:
        return _answered(handle, delivery)  # it answered as the group ended
    if late == "timeout":
        why = f"no answer within the group's timeout ({timeout:g} s); its turn was stopped"
    else:
        why = "another target answered first; its turn was stopped"
    return GroupReply(handle, late, error=why)
