"""The runtime: everything a frontend runs on, assembled for one project.

The session manager, the inbox router, the durable queues, the workflow runner and
the MCP plane (the server every agent can call) start together and stop together.
``aegis serve``, ``aegis workflow run``, ``aegis queue`` and the TUI each run one::

    async with Runtime(project) as runtime:
        record = await runtime.workflows.run("branch_review", {"base": "main"})
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager

import anyio

from aegis.approvals.registry import approval_notification
from aegis.canvas import CanvasRegistry
from aegis.config.loader import Project
from aegis.inbox import InboxRouter
from aegis.lifespan import Lifespan
from aegis.mcp.plane import McpPlane
from aegis.notify import Notification, Notifier
from aegis.questions import Questions, question_notification
from aegis.queue.backend import RelayingBackend
from aegis.queue.backends import BACKEND_ENV, get_queue_backend
from aegis.queue.manager import QueueManager
from aegis.queue.runners import announced
from aegis.session.helpers import HelperLedger
from aegis.session.manager import SessionManager
from aegis.terminals import TerminalRegistry
from aegis.usage.recorder import BudgetReached, UsageRecorder
from aegis.workflow.runner import WorkflowRunner

QUEUE_BACKEND_ENV = BACKEND_ENV

log = logging.getLogger("aegis")


class Runtime(Lifespan):
    """The sessions, inbox router, queues, workflow runner, shared terminals and canvases,
    questions to a person, and MCP plane of one project."""

    def __init__(
        self,
        project: Project,
        *,
        env: Mapping[str, str] | None = None,
        queue_backend: str | None = None,
        dispatch: bool = True,
        mcp: bool = True,
        dispatch_on_use: bool = False,
        serve_queues: Collection[str] | None = None,
        max_running: int | None = None,
    ) -> None:
        """``dispatch``: run queued tasks in this process. ``dispatch_on_use``: only
        those of the queues this process enqueued on (``aegis --no-daemon workflow
        run``: the queues its workflow delegates to, not the tasks left on the rest).
        ``mcp``: run the MCP plane (commands that only look at state, like ``aegis
        queue list``, need neither); without it, sessions get no aegis tools and no
        preamble. ``serve_queues`` and ``max_running``: the queues this process runs
        tasks of (default: all) and how many at once over all of them (``aegis
        worker --queue/--max-parallel``; see :class:`~aegis.queue.manager.QueueManager`)."""
        self.project = project
        self.state_dir = project.state_dir
        self.dispatch = dispatch
        self.dispatch_on_use = dispatch_on_use
        self.mcp_enabled = mcp
        # First made, first entered and last left: every part can notify, until the end.
        self.notifier = Notifier(
            str(project.root), [channel.channel() for channel in project.notifications]
        )
        # The plane comes first: the session manager asks it, for every session it opens, for
        # the session's MCP servers (with the session's own token) and preamble.
        self.mcp: McpPlane | None = McpPlane(self) if mcp else None
        self.sessions = SessionManager.for_project(
            project,
            env=env,
            mcp_servers=self.mcp.servers_for if self.mcp is not None else None,
            preamble=self.mcp.preamble if self.mcp is not None else None,
        )
        self.approvals = self.sessions.approvals
        """Permission requests of the sessions waiting for a person (``docs/approvals.md``)."""
        self.approvals.notify = lambda session, request: self.notifier.send(
            approval_notification(session, request)
        )
        backend = get_queue_backend(queue_backend, self.state_dir, chosen=project.queue_backend)
        # A store shared by hosts carries the inbox messages between their runtimes.
        relay = backend if isinstance(backend, RelayingBackend) else None
        self.inbox = InboxRouter(self.sessions, self.state_dir, relay=relay)
        self.helpers = HelperLedger(self.sessions)
        """The sessions agents spawned (``aegis_spawn``), closed with their owner."""
        # Every turn goes in .aegis/usage.db; the budgets of .aegis.py are enforced from it.
        self.usage = UsageRecorder(
            self.state_dir,
            limits=project.limits,
            queues=project.queues,
            on_reached=self._budget_reached,
        )
        self.sessions.on_turn = self.usage.on_turn
        self.usage.owner_of = self.helpers.owner_of  # a helper counts for its owner's work
        self.queues = QueueManager(
            project.queues,
            backend=backend,
            sessions=self.sessions,
            inbox_router=self.inbox,
            dispatch=dispatch,
            dispatch_on_use=dispatch_on_use,
            # A task's worker gets its tools from the plane: none starts before it runs.
            hold_dispatch=mcp,
            serve=serve_queues,
            max_running=max_running,
            gate=self.usage,
            provider_limits=_canonical_providers(project.limits.providers),
        )
        # Shared terminals and canvases belong to the runtime: with the daemon they
        # outlive the frontends that look at them.
        self.terminals = TerminalRegistry(self.state_dir, project.root, inbox=self.inbox, env=env)
        self.canvases = CanvasRegistry(self.state_dir, project.root, inbox=self.inbox)
        self.workflows = WorkflowRunner(
            sessions=self.sessions,
            queue_manager=self.queues,
            inbox_router=self.inbox,
            state_dir=self.state_dir,
        )
        self.workflows.canvases = self.canvases
        # Questions to a person: workflows wait for theirs, agents get theirs in their inbox.
        self.questions = Questions(
            self.state_dir,
            inbox=self.inbox,
            workflows=self.workflows,
            on_asked=lambda question: self.notifier.send(question_notification(question)),
        )
        self.workflows.questions = self.questions
        self.sessions.notifier = self.queues.notifier = self.workflows.notifier = self.notifier
        self.workflows.usage = self.usage

    def _budget_reached(self, reached: BudgetReached) -> None:
        """Tell of a ceiling reached: a ``budget_reached`` notification."""
        title = {
            "queue": "A queue's budget is reached: its tasks wait",
            "run": "A workflow run's budget is reached: it fails",
            "project": "The project's daily budget is reached: queues and workflows stop",
        }[reached.scope]
        self.notifier.send(
            Notification(
                kind="budget_reached",
                title=title,
                body=reached.reason,
                run_id=reached.name if reached.scope == "run" else None,
            )
        )

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        # Workflow runs of dead processes are ended first, as the queues end their
        # tasks on entering: the record of a run never stays "running" for good.
        for record in await anyio.to_thread.run_sync(self.workflows.recover):
            log.warning("workflow run %s: %s", record.id, record.error)
        # Likewise the worktrees of sessions that died with their aegis: the work they
        # hold is committed to their branch and kept; an empty one is removed.
        try:
            await self.sessions.worktrees.sweep()
        except Exception:  # a broken repository must not stop aegis from starting
            log.exception("could not sweep the worktrees of %s", self.project.root)
        # Nested `async with`s, not an exit stack: see aegis.lifespan for why.
        # Listed as a queue runner while tasks may start here (`queue enqueue` tells).
        async with (
            self.notifier,
            self.usage,  # entered first, left last: the last turns are written
            self.sessions,
            self.helpers,
            self.inbox,
            # After the inbox (answers reach agents through it), before the workflows run.
            self.questions,
            self.queues,
            # After the inbox (it wakes subscribers through it), before the plane (whose
            # tools use it): left before the inbox, every shell stopped on the way.
            self.terminals,
            # Announced only when it runs whatever is queued (not just the queues it uses).
            announced(self.state_dir, dispatch=self.dispatch and not self.dispatch_on_use),
        ):
            if self.mcp is None:
                yield
            else:
                # Entered last, left first: a tool call never finds the queues or inbox closed.
                async with self.mcp:
                    self.queues.release_dispatch()
                    try:
                        yield
                    finally:
                        # Running tasks get their grace while their workers still
                        # have the plane's tools (wind_down is shielded).
                        await self.queues.wind_down()


def _canonical_providers(caps: Mapping[str, int]) -> dict[str, int]:
    """``Limits.providers`` keyed by each provider's own name (an alias such as
    ``claude`` counts for ``claude-code``)."""
    from aegis.registry import get_registry

    registry = get_registry()
    out: dict[str, int] = {}
    for name, cap in caps.items():
        try:
            out[registry.canonical_name(name)] = cap
        except Exception:  # not installed: its sessions cannot run anyway
            out[name] = cap
    return out
