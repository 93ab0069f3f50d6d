"""The hook specifications: every extension point of aegis, in one module.

This module is the plugin author's reference. A plugin is a module (or object)
whose functions carry the :data:`hookimpl` marker and whose names match the
specifications below; it is found through the ``aegis`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.aegis]
    myprovider = "aegis_myprovider.plugin"

    # aegis_myprovider/plugin.py
    from aegis import hookimpl

    @hookimpl
    def register_providers(register):
        register(MyProvider())

Conventions, borrowed from pytest and llm:

* ``register_*`` hooks receive a ``register`` callable (or the object to extend)
  instead of returning values, so one plugin can register several things and the
  host knows which plugin registered what.
* Observer hooks (``session_started``, ``task_finished``, ...) are called for their
  side effects; their return values are ignored. They are called on the aegis event
  loop: they must not block.
* aegis's own built-ins (the offline ``scripted`` provider, the SQLite queue
  backend) are plugins registered through these same hooks.

Implementations may accept any subset of a hook's arguments, by name.

How hooks are called, and what a failure costs:

* Every hook is called one plugin at a time, in the order the plugins were loaded:
  aegis's built-ins first, then the entry points.
* A registration hook (``register_*``) that raises marks its plugin as failed, with
  the error, in ``aegis plugins``; what it registered before raising is dropped, and
  the other plugins' registrations stand. So does a registration that aegis refuses
  (a provider that is not a ``Provider``, a tool name already taken).
* An observer hook that raises is logged (logger ``aegis.plugins``) with the hook's
  and the plugin's name, and the other plugins' observers are still called: an
  observer never stops another one, nor the session, task or run it observes.
* ``before_send`` is the one hook whose result counts: each plugin sees the message
  as the previous one left it. :class:`~aegis.errors.MessageRefused` stops the
  message; any other exception is logged like an observer's and the message goes on
  as it was.
* Registration hooks run once per process, when the registry they feed is first
  needed (the plugin host keeps what they registered); observer hooks run each time
  the event happens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from aegis.cli import AegisGroup
    from aegis.events import TurnEnd
    from aegis.notify import Notification
    from aegis.provider import Provider
    from aegis.queue.backend import QueueBackend
    from aegis.queue.task import TaskRecord
    from aegis.session.info import SessionInfo
    from aegis.workflow.runner import RunRecord

PROJECT_NAME = "aegis"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marker for hook specifications (used only in this module)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: decorate your plugin's functions with it."""


class RegisterWorkflow(Protocol):
    """The ``register`` callable of :func:`register_workflows`."""

    def __call__(self, fn: Callable[..., Awaitable[Any]], name: str | None = None) -> None: ...


class RegisterTool(Protocol):
    """The ``register`` callable of :func:`register_tools`."""

    def __call__(
        self,
        fn: Callable[..., Awaitable[Any]],
        name: str | None = None,
        description: str | None = None,
    ) -> None: ...


# --- providers --------------------------------------------------------------------


@hookspec
def register_providers(register: Callable[[Provider[Any]], None]) -> None:
    """Register harness providers: one call of ``register(provider)`` per provider.

    ``provider`` is an instance of a :class:`aegis.provider.Provider` subclass. It
    names the provider (``"claude-code"``) and its aliases (``"claude"``), points at
    its pydantic configuration class (a :class:`aegis.config.ProviderConfig`
    subclass such as ``ClaudeCode``), names the executable it drives and the package
    that installs it, and opens drivers for sessions.

    Called once, when the provider registry is first needed (not at start-up of the
    CLI). Names and aliases must be unique across all installed plugins; a clash is
    reported by ``aegis providers`` and the first registration wins.

    Once registered, the configuration class is usable in ``.aegis.py`` both as
    ``Agent(provider=MyConfig(...))`` and in the flat shape
    ``Agent(harness="my-name", ...)``, and it is reachable as
    ``aegis.config.<ClassName>``.
    """


# --- queues -----------------------------------------------------------------------


@hookspec
def register_queue_backends(
    register: Callable[[str, Callable[[Path], QueueBackend]], None],
) -> None:
    """Register queue backends: ``register(name, factory)``.

    A backend stores queued tasks durably. ``factory(state_dir)`` returns the
    backend object for a project whose state lives in ``state_dir`` (the project's
    ``.aegis/`` folder). aegis-core registers its embedded SQLite backend under the
    name ``"sqlite"`` through this hook; it is the default. A distributed backend is
    another plugin that registers another name.
    """


@hookspec
def task_enqueued(task: TaskRecord) -> None:
    """Called after a task was durably added to a queue.

    ``task`` is the task record: its id, queue name, payload, sender and whether a
    callback was asked for.
    """


@hookspec
def task_started(task: TaskRecord) -> None:
    """Called when a queued task starts running, after its worker session was spawned."""


@hookspec
def task_finished(task: TaskRecord) -> None:
    """Called once when a task ends: done, failed, or cancelled.

    The record carries the status, the worker's final assistant text or the error,
    the usage, and the start and end times.
    """


# --- workflows --------------------------------------------------------------------


@hookspec
def register_workflows(register: RegisterWorkflow) -> None:
    """Register workflows shipped by a package: ``register(fn)`` or ``register(fn, name=...)``.

    ``fn`` is an ``async def`` taking a :class:`aegis.workflow.WorkflowEngine` as its
    first positional argument, then keyword arguments given on the command line
    (``aegis workflow run NAME --arg key=value``). Workflows defined with
    ``@workflow`` in the project's ``.aegis.py`` take precedence over packaged ones
    of the same name.
    """


@hookspec
def workflow_started(run: RunRecord) -> None:
    """Called when a workflow run starts. ``run`` is its run record (id, name, arguments)."""


@hookspec
def workflow_finished(run: RunRecord) -> None:
    """Called when a workflow run ends: ok, failed (``WorkflowError``) or crashed."""


# --- sessions and turns -----------------------------------------------------------


@hookspec
def session_started(session: SessionInfo) -> None:
    """Called when a session is ready for its first message.

    ``session`` is its :class:`~aegis.session.info.SessionInfo`: handle, profile, provider, harness
    session id and working directory.
    """


@hookspec
def session_closed(session: SessionInfo) -> None:
    """Called once when a session ends, closed or failed."""


@hookspec
def before_send(handle: str, message: str, sender: str) -> str | None:
    """Called before a message is delivered to session ``handle``.

    ``sender`` tags where the message comes from: ``"user"``, ``"agent:<handle>"``,
    ``"queue:<name>"`` or ``"workflow:<run id>"``.

    Return ``None`` to leave the message as it is, or a string to replace it (later
    plugins see the replacement). Raise :class:`aegis.errors.MessageRefused` with a
    reason to refuse it: the message is not delivered and the sender gets the reason
    as an error.
    """


@hookspec
def turn_finished(handle: str, turn: TurnEnd) -> None:
    """Called when a turn of session ``handle`` ends.

    ``turn`` is the canonical turn-end event: stop reason, the final assistant text
    of the whole turn, its duration and usage.
    """


# --- notifications ----------------------------------------------------------------


@hookspec
def notify(notification: Notification) -> None:
    """Tell a person something: an approval or an answer is needed, a task or session
    failed, a workflow run ended. Implement it to send notifications elsewhere (Slack,
    Telegram, e-mail).

    ``notification`` is an :class:`aegis.notify.Notification`: ``kind``, ``title``,
    ``body``, ``project``, ``at`` and the ids of what it is about;
    ``notification.payload()`` is its JSON form (what the built-in webhook posts).

    Unlike the other observers, this one is called off the event loop's path: a plain
    function runs in a thread of its own and may block (an HTTP call); an ``async def``
    is awaited on the loop. Either gets 10 seconds, after which aegis stops waiting for
    it; an exception is logged (logger ``aegis.notify``). A hook that hangs or fails
    delays nothing else: not the runtime, not the other channels.
    """


# --- frontends --------------------------------------------------------------------


@hookspec
def register_commands(cli: AegisGroup) -> None:
    """Add click commands to the ``aegis`` command group.

    Called when the CLI needs its full list of commands (``aegis --help``, or an
    unknown core command name); never for ``aegis --version``. Keep the module
    that holds this hook light: import your frontend's heavy dependencies inside the
    command functions.

    A frontend that should open when ``aegis`` runs without a sub-command calls
    ``cli.set_default_command(name)`` (the group is an
    :class:`aegis.cli.AegisGroup`). Without such a frontend, a bare ``aegis``
    prints its help.
    """


# --- the MCP plane ----------------------------------------------------------------


@hookspec
def register_tools(register: RegisterTool) -> None:
    """Add tools to the MCP server that every spawned agent can call.

    ``register(fn, name=None, description=None)``: ``fn`` is a typed async function
    whose parameters become the tool's input schema and whose docstring becomes its
    description; its first parameter receives the calling session's context (who
    is calling, and the runtime it can act on). The caller's identity comes from
    its transport token, never from a tool argument.
    """
