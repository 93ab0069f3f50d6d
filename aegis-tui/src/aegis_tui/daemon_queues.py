"""The queue strip's and dashboard's source, read and acted on through the daemon's client."""

from __future__ import annotations

from typing import Any

from aegis.daemon.client import DaemonClient
from aegis.queue.task import TaskRecord


class DaemonQueues:
    """The :class:`~aegis_tui.screens.queues.QueueSource` of the daemon ``client`` talks to."""

    def __init__(self, client: DaemonClient) -> None:
        self.client = client

    async def counts(self) -> dict[str, dict[str, int]]:
        return await self.client.queues()

    async def workers(self) -> list[dict[str, Any]]:
        return await self.client.workers()

    async def today(self) -> dict[str, Any]:
        """Today's (UTC) usage report of the daemon: ``total`` and the ``held`` queues."""
        return await self.client.usage(since="today")

    async def list_tasks(
        self, queue: str | None = None, status: Any = None, limit: int | None = 100
    ) -> list[TaskRecord]:
        found = await self.client.tasks(queue, str(status) if status else None, limit or 100)
        return [TaskRecord.from_dict(task) for task in found]

    async def get(self, task_id: str) -> TaskRecord:
        return TaskRecord.from_dict(await self.client.task(task_id))

    async def enqueue(
        self, queue: str, payload: str, sender: str = "user", callback: bool = False
    ) -> str:
        task = await self.client.enqueue(queue, payload, sender=sender)
        return str(task["id"])

    async def cancel(self, task_id: str) -> TaskRecord:
        return TaskRecord.from_dict(await self.client.cancel_task(task_id))

    async def retry(self, task_id: str) -> str:
        task = await self.client.retry_task(task_id)
        return str(task["id"])
