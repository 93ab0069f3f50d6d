"""The declaration of a queue, as written in ``.aegis.py``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aegis.errors import ConfigError

if TYPE_CHECKING:
    from aegis.usage.budget import Budget

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

NAME_HINT = "use letters, digits, '-', '_' and '.', starting with a letter or digit"
"""What a valid name (of a queue, of an agent profile) is made of."""


def valid_name(name: object) -> bool:
    """Whether ``name`` may name a queue or an agent profile: it appears in paths,
    command lines and senders (``queue:<name>``), so no separators, spaces or dots first."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class Queue:
    """A named queue whose tasks run on fresh sessions of one agent profile.

    Each task spawns a session of ``agent_profile``, sends the payload as its first
    message, records the final answer and closes the session. At most
    ``max_parallel`` tasks of the queue run at once; the others wait in FIFO order.

    ``warm`` (optional, default 0) keeps that many workers started ahead of the tasks
    in each process that runs them: a task takes one (its payload is the worker's
    first message) instead of waiting for an agent to start, and another is started
    in its place. At most ``max_parallel``: warm workers and running tasks together
    never exceed it. Each costs a live agent process (see docs/queues.md).

    ``workspace`` (optional) overrides the profile's for this queue's workers:
    ``"worktree"`` gives each worker a git worktree and branch of its own (so that
    parallel workers that write never collide; see docs/worktrees.md), ``"project"``
    the project's folder. ``None`` (the default) keeps the profile's.

    ``budget`` (optional) is what the queue's tasks may spend per UTC day
    (``Budget(usd=5)``, ``Budget(tokens=2_000_000)``): once reached, no task of the
    queue starts — they stay queued, with the reason shown by ``aegis queue list`` —
    until the next day or a higher budget (see docs/usage.md).
    """

    name: str
    agent_profile: str
    max_parallel: int
    warm: int = 0
    workspace: str | None = None
    budget: Budget | None = None

    def __post_init__(self) -> None:
        if not valid_name(self.name):
            raise ConfigError(
                f"queue name {self.name!r} is not valid", field="name", hint=NAME_HINT
            )
        if not isinstance(self.agent_profile, str) or not self.agent_profile:
            raise ConfigError(
                f"queue {self.name!r}: agent_profile must be the name of an agent, "
                f"not {self.agent_profile!r}",
                field="agent_profile",
                hint="name one of the keys of `agents`: Queue(name, agent_profile='main', ...)",
            )
        if (
            isinstance(self.max_parallel, bool)
            or not isinstance(self.max_parallel, int)
            or self.max_parallel < 1
        ):
            raise ConfigError(
                f"queue {self.name!r}: max_parallel must be a whole number of at least 1, "
                f"not {self.max_parallel!r}",
                field="max_parallel",
                hint="max_parallel is how many of its tasks may run at once; 1 runs them "
                "one after another",
            )
        if isinstance(self.warm, bool) or not isinstance(self.warm, int) or self.warm < 0:
            raise ConfigError(
                f"queue {self.name!r}: warm must be a whole number of at least 0, "
                f"not {self.warm!r}",
                field="warm",
                hint="warm is how many workers are started ahead of the tasks; 0 (the "
                "default) starts each task's worker when the task comes",
            )
        if self.workspace not in (None, "project", "worktree"):
            raise ConfigError(
                f"queue {self.name!r}: workspace must be 'project' or 'worktree', "
                f"not {self.workspace!r}",
                field="workspace",
                hint="'worktree' gives each worker a git worktree and branch of its own; "
                "leave it out to keep the profile's",
            )
        if self.budget is not None and not _is_budget(self.budget):
            raise ConfigError(
                f"queue {self.name!r}: budget must be a Budget, not {self.budget!r}",
                field="budget",
                hint="from aegis.usage import Budget; Queue(..., budget=Budget(usd=5))",
            )
        if self.warm > self.max_parallel:
            raise ConfigError(
                f"queue {self.name!r}: warm={self.warm} is more than "
                f"max_parallel={self.max_parallel}",
                field="warm",
                hint="warm workers and running tasks together never exceed max_parallel: "
                f"use warm={self.max_parallel} at most, or raise max_parallel",
            )


def _is_budget(value: object) -> bool:
    # Imported only for a queue that has a budget: the models (pydantic) stay out of the
    # clients that merely read queue records (``aegis workflow run`` through the daemon).
    from aegis.usage.budget import Budget

    return isinstance(value, Budget)
