"""What runs in the daemon when the TUI quits, and stopping all of it when asked.

Quitting the TUI detaches: the daemon's sessions, queue tasks and workflow runs go
on. :func:`running_in` says what would go on (for ctrl+q's question), and
:func:`stop_everything` is the other answer: every session closed, every task and
workflow run cancelled through the protocol, and the daemon stopped when no other
client is attached to it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from aegis.daemon.client import DaemonClient, DaemonError
from aegis.daemon.launch import stop

log = logging.getLogger("aegis.tui")

TASKS_LOOKED_AT = 500
"""How many of the latest tasks stopping everything looks at for queued and running ones."""


@dataclass(frozen=True)
class Running:
    """What runs in the daemon: busy sessions, live ones, tasks and workflow runs."""

    busy: tuple[str, ...] = ()
    """Handles of the sessions in a turn."""
    live: int = 0
    """Live sessions (busy or not)."""
    tasks_running: int = 0
    tasks_queued: int = 0
    runs: tuple[str, ...] = ()
    """Ids of the workflow runs in progress."""

    def __bool__(self) -> bool:
        """Whether anything is at work (idle sessions are not)."""
        return bool(self.busy or self.tasks_running or self.tasks_queued or self.runs)

    def lines(self) -> list[str]:
        """What runs, a line each, as a person reads it."""
        lines = []
        if self.busy:
            names = ", ".join(self.busy[:4]) + (", …" if len(self.busy) > 4 else "")
            lines.append(f"{_count(len(self.busy), 'session')} busy ({names})")
        if self.tasks_running or self.tasks_queued:
            lines.append(
                f"{_count(self.tasks_running, 'queue task')} running, {self.tasks_queued} queued"
            )
        if self.runs:
            lines.append(f"{_count(len(self.runs), 'workflow run')} in progress")
        idle = self.live - len(self.busy)
        if idle > 0:
            lines.append(f"{_count(idle, 'session')} idle")
        return lines


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' * (n != 1)}"


async def running_in(client: DaemonClient) -> Running:
    """What runs now in the daemon of ``client``."""
    sessions = await client.sessions()
    status = await client.status()
    runs = await client.workflows()
    live = [s for s in sessions if s.live]
    return Running(
        busy=tuple(s.handle for s in live if s.state == "busy"),
        live=len(live),
        tasks_running=int(status["tasks"].get("running", 0)),
        tasks_queued=int(status["tasks"].get("queued", 0)),
        runs=tuple(r.id for r in runs if r.status.value == "running"),
    )


async def stop_everything(client: DaemonClient, state_dir: Path) -> None:
    """Cancel every queued and running task and workflow run, close every live session,
    then stop the daemon (of the project whose state folder is ``state_dir``) unless
    another client is attached to it, and wait until it is gone."""
    # Asked first: once the sessions are closed, their streams (other clients') are gone.
    others = [c for c in (await client.status())["clients"] if c["name"] != client.name]
    tasks = [
        task
        for status in ("queued", "running")
        for task in await client.tasks(status=status, limit=TASKS_LOOKED_AT)
    ]
    runs = [run.id for run in await client.workflows() if run.status.value == "running"]
    async with anyio.create_task_group() as tg:
        for task in tasks:
            tg.start_soon(_quietly, client.cancel_task, task["id"])
        for run_id in runs:
            tg.start_soon(_quietly, client.cancel_workflow, run_id)
    sessions = [s.handle for s in await client.sessions() if s.live]
    async with anyio.create_task_group() as tg:
        for handle in sessions:
            tg.start_soon(_quietly, client.close, handle)
    if others or (await client.status())["sessions"]["live"]:
        log.info("the daemon goes on: other clients use it")
        return
    await stop(state_dir)


async def _quietly(call: Callable[[str], Awaitable[object]], key: str) -> None:
    """``call(key)``; an error (it ended meanwhile) is logged, not raised."""
    try:
        await call(key)
    except (DaemonError, OSError) as exc:
        log.info("%s: %s", key, exc)
