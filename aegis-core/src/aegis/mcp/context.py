"""What an MCP tool receives and raises: :class:`ToolContext`, :class:`ToolError`, the size limit.

A tool registered through the ``register_tools`` hook is a typed ``async def``
whose first parameter receives a :class:`ToolContext`; every other parameter
becomes part of the tool's input schema::

    from aegis import hookimpl
    from aegis.mcp import ToolContext, ToolError

    async def shout(ctx: ToolContext, text: str) -> str:
        \"\"\"Repeat ``text`` in capitals.\"\"\"
        if not text:
            raise ToolError("text is empty: give me something to shout")
        return f"{ctx.handle} says {text.upper()}"

    @hookimpl
    def register_tools(register):
        register(shout, name="myplugin_shout")

This module is imported by every plugin that defines tools, so it stays light:
the MCP SDK is only imported by the plane itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from aegis.canvas import CanvasRegistry
    from aegis.inbox import InboxRouter
    from aegis.questions import Questions
    from aegis.queue.manager import QueueManager
    from aegis.session.helpers import HelperLedger
    from aegis.session.manager import SessionManager
    from aegis.terminals import TerminalRegistry
    from aegis.workflow.runner import WorkflowRunner

MAX_TEXT_BYTES = 64 * 1024
"""The largest message, payload or argument set a built-in tool takes: 64 KiB of UTF-8.

Agents share a working directory: larger content belongs in a file whose path
goes in the message.
"""

MAX_REQUEST_BYTES = 1024 * 1024
"""The largest HTTP request body the plane reads; larger requests are refused (HTTP 413)."""


class ToolError(Exception):
    """Raise it from a tool to answer with an error (``isError``) carrying this message.

    Say what was wrong and what would be right (the names that exist, the limit):
    the message is all the calling model sees.
    """


@dataclass(frozen=True)
class ToolContext:
    """Who is calling a tool, and the parts of the runtime a tool may act on.

    ``handle`` comes from the caller's bearer token (see the identity model in
    ``docs/mcp.md``), never from a tool argument, so a tool can trust it.
    """

    handle: str
    """The calling session's handle."""
    profile: str
    """The calling session's agent profile."""
    sessions: SessionManager
    """The project's live sessions: list, spawn, send, interrupt, close."""
    inbox: InboxRouter
    """Messages to sessions, held until their target can take them."""
    queues: QueueManager
    """The project's durable queues."""
    workflows: WorkflowRunner
    """Runs the project's workflows and keeps their records."""
    project_root: Path
    """The project's folder (where ``.aegis.py`` is)."""
    terminals: TerminalRegistry | None = None
    """The shared terminals (``None`` in a context made outside a runtime)."""
    canvases: CanvasRegistry | None = None
    """The shared canvases (``None`` in a context made outside a runtime)."""
    helpers: HelperLedger | None = None
    """Who spawned which session (``None`` in a context made outside a runtime)."""
    questions: Questions | None = None
    """Questions to a person (``None`` in a context made outside a runtime)."""
    _background: Callable[[Callable[[], Awaitable[Any]], str], None] | None = field(
        default=None, repr=False
    )
    """The plane's task group (``None`` in a context made outside a plane, e.g. a test's)."""

    @property
    def sender(self) -> str:
        """How the caller's messages and tasks are tagged: ``agent:<handle>``."""
        return f"agent:{self.handle}"

    def run_in_background(self, work: Callable[[], Awaitable[Any]], *, name: str) -> None:
        """Run ``work()`` after the tool has answered, owned by the plane.

        It is cancelled when the plane stops; an exception it raises is logged
        and goes no further. Use it for work that outlives the call (the
        ``aegis_run_workflow`` tool runs its workflow this way).
        """
        if self._background is None:
            raise RuntimeError("this tool context belongs to no running MCP plane")
        self._background(work, name)


def cap_text(text: str, where: str, limit: int = MAX_TEXT_BYTES) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, saying so and ``where`` the rest is.

    For what aegis itself sends an agent (a workflow's outcome): it is held to the
    limit the agents' own messages are held to, so that one large result does not
    fill a transcript and the inbox database.
    """
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    note = f"\n\n[cut: {len(data)} bytes, {limit // 1024} KiB shown; {where}]"
    kept = data[: max(0, limit - len(note.encode()))].decode("utf-8", "ignore")
    return kept + note


def check_size(what: str, text: str, limit: int = MAX_TEXT_BYTES) -> None:
    """Raise :class:`ToolError` when ``text`` is longer than ``limit`` bytes of UTF-8."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ToolError(
            f"{what} is {size} bytes; the limit is {limit // 1024} KiB ({limit} bytes). "
            "Write large content to a file in the workspace and send its path instead."
        )
