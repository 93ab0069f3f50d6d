"""What may stop a queue from starting its tasks, besides ``max_parallel``: a gate.

The runtime gives its queue manager the usage recorder
(:class:`~aegis.usage.recorder.UsageRecorder`), which holds a queue whose budget,
or the project's daily budget, is reached, and learns which session works on
which task (so that the worker's turns count for the queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aegis.queue.declaration import Queue
    from aegis.queue.task import TaskRecord


class DispatchGate(Protocol):
    """Asked before each claim of a task, and told of each task's worker."""

    async def hold(self, queue: Queue) -> str | None:
        """Why ``queue`` may start no task now (shown to users), or ``None``."""
        ...

    def task_started(self, task: TaskRecord, handle: str) -> None:
        """Session ``handle`` works on ``task`` from now on."""
        ...
