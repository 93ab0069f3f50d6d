"""Deterministic async workflows that drive agents, queues and the shell.

A workflow is an ``async def`` decorated with :func:`workflow`; it receives a
:class:`WorkflowEngine` as its first argument::

    from aegis.workflow import workflow, WorkflowError

    @workflow
    async def review(engine, branch: str = "main") -> str:
        report = await engine.delegate("review", f"Review the diff of {branch}")
        if "LGTM" not in report:
            raise WorkflowError("the reviewer did not approve")
        return report
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aegis.workflow.errors import PredicateFailed, WorkflowError
from aegis.workflow.registry import WorkflowFn, get_workflow, list_workflows, workflow

if TYPE_CHECKING:
    from aegis.session.group import GroupReply as GroupReply
    from aegis.workflow.engine import WorkflowEngine as WorkflowEngine
    from aegis.workflow.engine import now_iso as now_iso

__all__ = [
    "GroupReply",
    "PredicateFailed",
    "WorkflowEngine",
    "WorkflowError",
    "WorkflowFn",
    "get_workflow",
    "list_workflows",
    "now_iso",
    "workflow",
]


def __getattr__(name: str) -> Any:
    # The engine pulls in anyio and the session layer; loading .aegis.py (which
    # imports the decorator from here) should not pay for that.
    if name in ("WorkflowEngine", "now_iso"):
        from aegis.workflow import engine

        return getattr(engine, name)
    if name == "GroupReply":  # what WorkflowEngine.group returns
        from aegis.session.group import GroupReply

        return GroupReply
    raise AttributeError(f"module 'aegis.workflow' has no attribute {name!r}")
