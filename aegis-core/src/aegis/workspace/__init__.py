"""Isolated workspaces for agents: a git worktree and a branch per session, reviewed and landed.

:class:`Worktrees` makes, reuses, releases and sweeps the worktrees of one project's
sessions (:mod:`aegis.workspace.worktree`); :func:`land`, :func:`discard` and
:func:`open_pull_request` finish them (:mod:`aegis.workspace.land`). Every git call
runs off the event loop (:mod:`aegis.workspace.git`). ``docs/worktrees.md`` is the
user's guide.
"""

from aegis.errors import WorkspaceError
from aegis.workspace.git import LandConflict
from aegis.workspace.land import LandResult, Strategy, discard, land, open_pull_request
from aegis.workspace.worktree import (
    BRANCH_PREFIX,
    DiffStat,
    FileStat,
    WorktreeRecord,
    Worktrees,
    WorktreeState,
)

__all__ = [
    "BRANCH_PREFIX",
    "DiffStat",
    "FileStat",
    "LandConflict",
    "LandResult",
    "Strategy",
    "WorkspaceError",
    "WorktreeRecord",
    "WorktreeState",
    "Worktrees",
    "discard",
    "land",
    "open_pull_request",
]
