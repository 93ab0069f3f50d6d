"""What ``aegis diff``, ``aegis land`` and ``aegis discard`` share: finding an agent's worktree.

They take a session's handle or a queue task's id (its worker's worktree), and
work on the repository and ``.aegis`` directly: no daemon is needed, and none is
started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from aegis.cli._errors import CliError

if TYPE_CHECKING:
    from aegis.config.loader import Project
    from aegis.workspace import WorktreeRecord, Worktrees


def project_worktrees(project: Project) -> Worktrees:
    from aegis.workspace import Worktrees

    return Worktrees(project.root, project.state_dir)


async def find_worktree(project: Project, target: str) -> WorktreeRecord:
    """The worktree of session ``target``, or of the worker of task ``target``."""
    worktrees = project_worktrees(project)

    def find() -> WorktreeRecord | None:
        record = worktrees.of_session(target)
        if record is not None:
            return record
        from aegis.queue.backends import get_queue_backend

        if project.queue_backend is None and not (project.state_dir / "queue.db").exists():
            return None
        backend = get_queue_backend(None, project.state_dir, chosen=project.queue_backend)
        try:
            task = backend.get(target)
        finally:
            backend.close()
        if task is None:
            return None
        if task.worker_handle is None:
            raise CliError(f"task {target} has not started: it has no worktree yet")
        record = worktrees.of_session(task.worker_handle)
        if record is None:
            raise CliError(
                f"the worker of task {target} ({task.worker_handle}) had no worktree: "
                "it worked in the project's folder",
                hint="give the queue's agent profile workspace='worktree'",
            )
        return record

    record = await anyio.to_thread.run_sync(find)
    if record is None:
        raise CliError(
            f"no worktree of a session or task {target!r}",
            hint="`aegis diff` lists the worktrees; a session has one when its profile says "
            "workspace='worktree'",
        )
    return record
