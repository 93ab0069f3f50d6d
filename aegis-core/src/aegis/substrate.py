"""The substrate: everything a frontend runs on, assembled for one project.

The session bridge, the inbox router, the durable queues and the workflow runner
(and, with the MCP plane, the server every agent can call) start together and stop
together. ``aegis serve``, ``aegis workflow run``, ``aegis chat`` and the TUI each
run one::

    async with Substrate(project) as substrate:
        record = await substrate.workflows.run("branch_review", {"base": "main"})
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from aegis.config.loader import Project
from aegis.inbox import InboxRouter
from aegis.queue.backends import get_queue_backend
from aegis.queue.manager import QueueManager
from aegis.session.manager import SessionManager
from aegis.workflow.runner import WorkflowRunner

QUEUE_BACKEND_ENV = "AEGIS_QUEUE_BACKEND"


class Substrate:
    """Bridge, inbox router, queue manager and workflow runner of one project."""

    def __init__(
        self,
        project: Project,
        *,
        env: Mapping[str, str] | None = None,
        queue_backend: str | None = None,
        dispatch: bool = True,
        mcp: bool = True,
    ) -> None:
        """``dispatch``: run queued tasks in this process. ``mcp``: run the MCP plane
        (commands that only look at state, like ``aegis queue list``, need neither)."""
        self.project = project
        self.state_dir = project.state_dir
        self.bridge = SessionManager.for_project(project, env=env)
        self.inbox = InboxRouter(self.bridge, self.state_dir)
        backend_name = queue_backend or os.environ.get(QUEUE_BACKEND_ENV, "sqlite")
        self.queues = QueueManager(
            project.queues,
            backend=get_queue_backend(backend_name, self.state_dir),
            bridge=self.bridge,
            inbox_router=self.inbox,
            dispatch=dispatch,
        )
        self.workflows = WorkflowRunner(
            bridge=self.bridge,
            queue_manager=self.queues,
            inbox_router=self.inbox,
            state_dir=self.state_dir,
        )
        self.mcp_enabled = mcp
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.bridge)
            await stack.enter_async_context(self.inbox)
            await stack.enter_async_context(self.queues)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)
