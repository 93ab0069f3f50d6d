"""Deterministic async workflows that drive agents, queues and the shell.

A workflow is an ``async def`` decorated with :func:`workflow`; it receives a
``WorkflowEngine`` as its first argument::

    from aegis.workflow import workflow, WorkflowError

    @workflow
    async def review(engine, branch: str = "main") -> str:
        report = await engine.delegate("review", f"Review the diff of {branch}")
        if "LGTM" not in report:
            raise WorkflowError("the reviewer did not approve")
        return report
"""

from aegis.workflow.engine import WorkflowEngine, now_iso
from aegis.workflow.errors import WorkflowError
from aegis.workflow.registry import WorkflowFn, get_workflow, list_workflows, workflow

__all__ = [
    "WorkflowEngine",
    "WorkflowError",
    "WorkflowFn",
    "get_workflow",
    "list_workflows",
    "now_iso",
    "workflow",
]
