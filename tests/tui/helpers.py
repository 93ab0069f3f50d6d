"""Building TUI apps on a throw-away project of the offline ``scripted`` provider."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen

from aegis.config.loader import Project, load_project
from aegis.daemon.client import DaemonClient
from aegis.runtime import Runtime
from aegis_tui.app import AegisApp
from aegis_tui.connection import AttachClient, HostDaemon, hosted_daemon

CONFIG = """
import anyio

from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis.workflow import workflow

LINES = "printf 'one\\\\ntwo\\\\nthree\\\\nfour\\\\nfive\\\\n'"
agents = {
    "planner": Agent(
        description="breaks a goal into steps",
        provider=Scripted(rules=[
            ScriptRule(match=r"(?i)^hello", reply="Hi! What shall we **build** today?"),
            ScriptRule(match=r"(?i)^slow", reply="Done, slowly.", delay=%(slow)s),
            ScriptRule(
                match=r"(?i)^list",
                tool_calls=[ScriptedToolCall(tool="bash", input={"command": LINES})],
                reply="Five lines.",
            ),
        ]),
    ),
    "worker": Agent(
        description="does one step",
        provider=Scripted(rules=[
            ScriptRule(match=r"(?i)^count slowly", reply="Counted slowly: 3.", delay=30),
            ScriptRule(match=r"(?i)^tally", reply="Tallied: 7.", delay=%(slow)s),
            ScriptRule(match=r"(?i)count", reply="Counted: 3."),
        ]),
    ),
}
default_agent = "planner"
queues = [Queue("work", agent_profile="worker", max_parallel=1)]


@workflow
async def wait_for(engine, seconds: float = 60.0, label: str = "x"):
    engine.log(f"waiting {seconds}s for {label}")
    await anyio.sleep(seconds)
    return {"label": label, "lines": ["one", "two"]}


@workflow
async def ask_worker(engine, text: str = "count"):
    handle = await engine.spawn("worker")
    return await engine.ask(handle, text)
"""
"""A project: ``planner`` (the default) answers hello, slow and list; ``worker`` runs the
``work`` queue (counts slowly, and tallies as slowly as ``slow`` says); the workflow
``wait_for`` sleeps, then returns, and ``ask_worker`` asks a worker session of its own."""


def write_project(root: Path, *, slow: float = 1.0) -> Project:
    """Write the test project's ``.aegis.py`` in ``root`` and load it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".aegis.py").write_text(CONFIG % {"slow": slow})
    return load_project([root])


class FixedClock:
    """A clock that moves only when told: status-bar times stay the same in snapshots."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def no_mcp(project: Project) -> Runtime:
    """The project's runtime without the MCP plane (its SDK takes a second to import)."""
    return Runtime(project, mcp=False)


def make_app(
    project: Project,
    *,
    handles: Iterable[str] = ("alpha", "beta", "gamma", "delta"),
    clock: Callable[[], float] | None = None,
    client: DaemonClient | None = None,
    **kwargs: Any,
) -> AegisApp:
    """The app on ``project``, with fixed handles and a fixed clock, polling nothing.

    It hosts its project's daemon in its own process (as ``aegis --no-daemon``),
    unless given the ``client`` of a daemon the test runs (see :func:`daemon_of`):
    then it attaches to that one, as a bare ``aegis`` does.
    """
    kwargs.setdefault("queue_poll", None)
    kwargs.setdefault(
        "connection", AttachClient(client) if client is not None else HostDaemon(no_mcp)
    )
    return AegisApp(
        project,
        handles=handles,
        clock=clock or FixedClock(),
        wall_clock=FixedClock(1_700_000_000.0),
        **kwargs,
    )


async def until(
    pilot: Pilot[Any], condition: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0
) -> None:
    """Let the app run until ``condition()`` (or what it returns, awaited) holds; fail
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout

    async def holds() -> bool:
        result = condition()
        return bool(await result) if inspect.isawaitable(result) else bool(result)

    while not await holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.05)


def transcript(app: AegisApp, handle: str | None = None) -> str:
    """The whole transcript of a tab as plain text (every block, not only those in view)."""
    tab = app.tab_named(handle) if handle else app.current
    assert tab is not None
    return "\n".join(block.plain() for block in app.view_of(tab).timeline.blocks)


def screen_text(app: AegisApp, screen: type[Screen[Any]]) -> str:
    """The text of the ``Static`` widgets of the screen shown, if it is a ``screen``
    (empty otherwise, and until it has composed them: wait for what it should say)."""
    if not isinstance(app.screen, screen):
        return ""
    return " ".join(str(w.render()) for w in app.screen.query("Static"))


def ready(app: AegisApp, *handles: str) -> Callable[[], bool]:
    """A condition: the tabs ``handles`` are open and their sessions ready, nothing queued."""

    def check() -> bool:
        for handle in handles:
            try:
                tab = app.tab_named(handle)
            except KeyError:
                return False
            if tab.state != "ready" or tab.pending:
                return False
        return True

    return check


def settled(app: AegisApp) -> Callable[[], bool]:
    """A condition: the active tab's transcript is laid out and shows its end."""

    def check() -> bool:
        tab = app.current
        if tab is None:
            return True
        view = app.view_of(tab)
        return not view._settle_scheduled and view.scroll_y >= view.max_scroll_y

    return check


@asynccontextmanager
async def daemon_of(project: Project) -> AsyncIterator[DaemonClient]:
    """The project's daemon, run in the test's event loop: apps attach to it and detach
    from it while it goes on (stopped at the end of the block)."""
    async with hosted_daemon(project, no_mcp) as client:
        yield client
