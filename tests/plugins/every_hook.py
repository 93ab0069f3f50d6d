"""A test plugin that implements every hook of :mod:`aegis.hookspecs`.

``tests/core/test_hooks.py`` registers it and exercises each hook through the
code that calls it; its guard test fails when a hook has no implementation here.
Each implementation records what it saw in :data:`calls`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aegis import hookimpl
from aegis.cli import AegisGroup
from aegis.events import TurnEnd
from aegis.hookspecs import RegisterTool, RegisterWorkflow
from aegis.mcp import ToolContext
from aegis.notify import Notification
from aegis.provider import Provider
from aegis.queue.backend import QueueBackend
from aegis.queue.sqlite_backend import SqliteQueueBackend
from aegis.queue.task import TaskRecord
from aegis.session.info import SessionInfo
from aegis.workflow import WorkflowEngine
from aegis.workflow.runner import RunRecord
from tests.session.fake_provider import FakeProvider

NAME = "every-hook"
"""The name the tests register this plugin under."""

calls: list[tuple[str, Any]] = []
"""``(hook name, what it was given)`` for each call, in order."""


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(FakeProvider())


def open_backend(state_dir: Path) -> QueueBackend:
    calls.append(("queue backend opened", state_dir))
    return SqliteQueueBackend.for_state_dir(state_dir)


@hookimpl
def register_queue_backends(
    register: Callable[[str, Callable[[Path], QueueBackend]], None],
) -> None:
    register("every-hook", open_backend)


@hookimpl
def task_enqueued(task: TaskRecord) -> None:
    calls.append(("task_enqueued", task))


@hookimpl
def task_started(task: TaskRecord) -> None:
    calls.append(("task_started", task))


@hookimpl
def task_finished(task: TaskRecord) -> None:
    calls.append(("task_finished", task))


async def every_hook_flow(engine: WorkflowEngine, word: str = "hello") -> str:
    """Answers with its argument, through one session."""
    handle = await engine.spawn("main")
    return await engine.ask(handle, word)


@hookimpl
def register_workflows(register: RegisterWorkflow) -> None:
    register(every_hook_flow)


@hookimpl
def workflow_started(run: RunRecord) -> None:
    calls.append(("workflow_started", run))


@hookimpl
def workflow_finished(run: RunRecord) -> None:
    calls.append(("workflow_finished", run))


@hookimpl
def session_started(session: SessionInfo) -> None:
    calls.append(("session_started", session))


@hookimpl
def session_closed(session: SessionInfo) -> None:
    calls.append(("session_closed", session))


@hookimpl
def before_send(handle: str, message: str, sender: str) -> str | None:
    calls.append(("before_send", (handle, message, sender)))
    return message.replace("password", "********")


@hookimpl
def turn_finished(handle: str, turn: TurnEnd) -> None:
    calls.append(("turn_finished", (handle, turn)))


@hookimpl
def notify(notification: Notification) -> None:
    calls.append(("notify", notification))


@click.command("every-hook")
def every_hook_command() -> None:
    """Say which plugin added this command."""
    click.echo("added by every-hook")


@hookimpl
def register_commands(cli: AegisGroup) -> None:
    cli.add_command(every_hook_command)


async def every_hook_echo(ctx: ToolContext, words: str) -> str:
    """Echo words back to the calling session."""
    return f"{ctx.handle}: {words}"


@hookimpl
def register_tools(register: RegisterTool) -> None:
    register(every_hook_echo)


def seen(hook_name: str) -> list[Any]:
    """What the calls of ``hook_name`` were given, in order."""
    return [given for name, given in calls if name == hook_name]
