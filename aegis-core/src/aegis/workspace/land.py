"""Landing an agent's branch into its base, opening a pull request, or discarding it.

Landing never leaves a half-merged base. The new commit of the base is made
first, without touching any checkout: the merged tree by ``git merge-tree``
(``merge`` and ``squash``), or a rebase in a temporary worktree of its own
(``rebase``). Only once that worked is the base moved, in one step: a
fast-forward of the checkout where the base is checked out (git refuses it, and
nothing changes, when it would overwrite uncommitted changes there), or a
compare-and-swap of the branch (``git update-ref``) when it is checked out
nowhere. A conflict, at either step, raises :class:`LandConflict` with the base
and the agent's branch as they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import anyio

from aegis.errors import WorkspaceError
from aegis.queue.owner import current_owner, is_owner_alive
from aegis.workspace.git import LandConflict, git, identity_env
from aegis.workspace.worktree import (
    DiffStat,
    WorktreeRecord,
    Worktrees,
    WorktreeState,
    parse_numstat,
)


class Strategy(str, Enum):
    """How an agent's branch goes into its base."""

    merge = "merge"
    """A merge commit with both histories (always one, even when a fast-forward would do)."""
    squash = "squash"
    """One new commit on the base holding all of the agent's changes."""
    rebase = "rebase"
    """The agent's commits replayed on the base's tip; the base fast-forwards to them."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class LandResult:
    """What landing did."""

    record: WorktreeRecord
    commit: str
    """The base's new tip."""
    strategy: Strategy
    stat: DiffStat


def _live(record: WorktreeRecord) -> bool:
    if record.state is not WorktreeState.active or record.owner is None:
        return False
    return record.owner == current_owner() or is_owner_alive(record.owner)


async def _settled(worktrees: Worktrees, record: WorktreeRecord, doing: str) -> WorktreeRecord:
    """``record`` ready to be landed or discarded: its session over, its work committed."""
    if _live(record):
        raise WorkspaceError(
            f"session {record.session} is still working in {record.branch}: cannot {doing} it now",
            hint="close the session first (its tab in the TUI, or end its `aegis chat`; a "
            "queue task's worker closes when its task ends), then try again",
        )
    if record.state in (WorktreeState.landed, WorktreeState.discarded, WorktreeState.removed):
        why = "removed: it had no changes" if record.state is WorktreeState.removed else "done"
        raise WorkspaceError(
            f"the worktree of {record.name} was {record.state.value} ({why}); nothing to {doing}"
        )
    if record.state in (WorktreeState.active, WorktreeState.creating):
        # Its aegis died with the session: tidy it as the next start would.
        record = await worktrees.release(record)
        if record.state is WorktreeState.removed:
            raise WorkspaceError(f"{record.branch} had no changes; nothing to {doing}")
    return record


async def _rev(record: WorktreeRecord, ref: str) -> str | None:
    done = await git(
        "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", cwd=record.repo, check=False
    )
    return done.out if done.ok else None


async def land(
    worktrees: Worktrees,
    record: WorktreeRecord,
    strategy: Strategy | str = Strategy.merge,
    *,
    message: str | None = None,
    keep_branch: bool = False,
) -> LandResult:
    """Land the agent's branch of ``record`` into its base, then remove its worktree (and,
    unless ``keep_branch``, the branch).

    Raises :class:`LandConflict` when the changes conflict with the base or with
    uncommitted changes in the base's checkout (nothing is changed), and
    :class:`WorkspaceError` when the session still runs or there is nothing to land.
    """
    strategy = Strategy(strategy)
    record = await _settled(worktrees, record, "land")
    async with worktrees._lock:
        await worktrees.commit_work(record, f"aegis: work of session {record.session}")
        tip = await _rev(record, f"refs/heads/{record.branch}")
        if tip is None:
            raise WorkspaceError(f"branch {record.branch} is gone: nothing to land")
        base_tip = await _rev(record, f"refs/heads/{record.base}")
        if base_tip is None:
            raise WorkspaceError(
                f"the base branch {record.base!r} is gone from {record.repo}",
                hint=f"make it again, or merge {record.branch} by hand",
            )
        since = (await git("merge-base", base_tip, tip, cwd=record.repo)).out
        if since == tip:
            raise WorkspaceError(f"{record.branch} has no changes that {record.base} lacks")
        numstat = await git("diff", "--numstat", "-z", "--no-renames", since, tip, cwd=record.repo)
        stat = parse_numstat(numstat.stdout)
        subject = message or f"Land {record.branch} (session {record.session})"
        env = await identity_env(record.repo)
        if strategy is Strategy.rebase:
            new = tip if since == base_tip else await _rebased(worktrees, record, tip, base_tip)
        else:
            tree = await _merged_tree(record, base_tip, tip)
            parents = ["-p", base_tip] + (["-p", tip] if strategy is Strategy.merge else [])
            body = subject
            if strategy is Strategy.squash:
                log = await git("log", "--format=- %s", f"{since}..{tip}", cwd=record.repo)
                body = f"{subject}\n\n{log.out}"
            new = (
                await git("commit-tree", tree, *parents, "-m", body, cwd=record.repo, env=env)
            ).out
        await _move_base(worktrees, record, base_tip, new)
        # Landed: what is left is the agent's copy of it.
        await worktrees._remove(record, branch=False)
        if keep_branch:
            if strategy is Strategy.rebase:
                await git("update-ref", f"refs/heads/{record.branch}", new, tip, cwd=record.repo)
        else:
            await git("branch", "-D", record.branch, cwd=record.repo, check=False)
        record = await worktrees.save(
            record,
            state=WorktreeState.landed,
            owner=None,
            stat=stat,
            landed_commit=new,
            strategy=strategy.value,
        )
    return LandResult(record, new, strategy, stat)


async def _merged_tree(record: WorktreeRecord, base_tip: str, tip: str) -> str:
    done = await git(
        "merge-tree", "--write-tree", "--name-only", base_tip, tip, cwd=record.repo, check=False
    )
    if done.returncode == 0:
        return done.out.splitlines()[0]
    if done.returncode != 1:
        raise WorkspaceError(f"git merge-tree failed: {done.why()}")
    lines = done.stdout.splitlines()
    files: list[str] = []
    for line in lines[1:]:
        if not line:
            break
        files.append(line)
    raise _conflict(record, files)


def _conflict(record: WorktreeRecord, files: list[str]) -> LandConflict:
    named = f": {', '.join(files)}" if files else ""
    return LandConflict(
        f"{record.branch} conflicts with {record.base}{named}. Nothing was changed: "
        f"{record.base} and {record.branch} are as they were",
        files=files,
        hint=f"resolve it in the agent's branch ({record.path} or `git switch {record.branch}`: "
        f"merge {record.base} into it and commit), then land again; or "
        f"`aegis discard {record.name}`",
    )


async def _rebased(worktrees: Worktrees, record: WorktreeRecord, tip: str, base_tip: str) -> str:
    """The agent's commits replayed on ``base_tip``, in a temporary worktree (the agent's
    own worktree and branch are left alone, whatever happens)."""
    scratch = worktrees.folder / f".land-{record.name}"
    env = await identity_env(record.repo)
    await git("worktree", "add", "--quiet", "--detach", str(scratch), tip, cwd=record.repo)
    try:
        done = await git("rebase", "-q", base_tip, cwd=scratch, env=env, check=False)
        if not done.ok:
            unmerged = await git("diff", "--name-only", "--diff-filter=U", cwd=scratch, check=False)
            await git("rebase", "--abort", cwd=scratch, check=False)
            raise _conflict(record, unmerged.out.splitlines())
        return (await git("rev-parse", "HEAD", cwd=scratch)).out
    finally:
        with anyio.CancelScope(shield=True):
            await git("worktree", "remove", "--force", str(scratch), cwd=record.repo, check=False)
            await git("worktree", "prune", cwd=record.repo, check=False)


async def _move_base(worktrees: Worktrees, record: WorktreeRecord, old: str, new: str) -> None:
    """Move the base from ``old`` to ``new``, in its checkout if it has one."""
    checkout = await worktrees.checked_out(record.repo, record.base)
    if checkout is None:
        done = await git(
            "update-ref",
            "-m",
            f"aegis land {record.name}",
            f"refs/heads/{record.base}",
            new,
            old,
            cwd=record.repo,
            check=False,
        )
        if not done.ok:
            raise WorkspaceError(
                f"{record.base} moved while landing: nothing was changed",
                hint=f"land again: `aegis land {record.name}`",
            )
        return
    done = await git("merge", "--ff-only", "-q", new, cwd=checkout, check=False)
    if done.ok:
        return
    words = done.why()
    told = done.stderr + done.stdout
    if "overwritten" in told or "local changes" in told or "untracked" in told:
        files = [line.strip() for line in told.splitlines() if line.startswith(("\t", "    "))]
        raise LandConflict(
            f"the checkout of {record.base} at {checkout} has uncommitted changes to files "
            f"that landing {record.branch} changes{': ' + ', '.join(files) if files else ''}. "
            "Nothing was changed",
            files=files,
            hint=f"commit or stash them in {checkout}, then land again",
        )
    raise WorkspaceError(
        f"could not move {record.base} in {checkout}: {words}. Nothing was changed",
        hint="finish what is in progress there (a merge, a rebase), then land again",
    )


async def discard(worktrees: Worktrees, record: WorktreeRecord) -> WorktreeRecord:
    """Remove the worktree and the branch of ``record``, changes and all."""
    record = await _settled(worktrees, record, "discard")
    async with worktrees._lock:
        stat = record.stat
        if stat is None:
            try:
                stat = await worktrees.diff_stat(record)
            except WorkspaceError:
                stat = None
        await worktrees._remove(record)
        return await worktrees.save(record, state=WorktreeState.discarded, owner=None, stat=stat)


async def open_pull_request(
    worktrees: Worktrees,
    record: WorktreeRecord,
    *,
    remote: str = "origin",
    title: str | None = None,
) -> str:
    """Push the agent's branch to ``remote`` and open a pull request into its base with
    ``gh``; returns its address. The worktree and branch stay (the request may need more
    work)."""
    if shutil.which("gh") is None:
        raise WorkspaceError(
            "gh (GitHub's command line) is not installed: --pr opens the pull request with it",
            hint="install it (https://cli.github.com) and run `gh auth login`; or land locally: "
            f"`aegis land {record.name}`",
        )
    auth = await _gh("auth", "status", cwd=record.repo)
    if auth.returncode != 0:
        raise WorkspaceError(
            "gh is not signed in to GitHub: --pr cannot open the pull request",
            hint=f"run `gh auth login`; or land locally: `aegis land {record.name}`",
        )
    record = await _settled(worktrees, record, "open a pull request for")
    await worktrees.commit_work(record, f"aegis: work of session {record.session}")
    await git("push", "-q", "-u", remote, f"{record.branch}:{record.branch}", cwd=record.repo)
    done = await _gh(
        "pr",
        "create",
        "--base",
        record.base,
        "--head",
        record.branch,
        "--title",
        title or f"{record.branch} (aegis session {record.session})",
        "--body",
        f"Work of the aegis session {record.session}.",
        cwd=record.repo,
    )
    if done.returncode != 0:
        raise WorkspaceError(f"gh pr create failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode(errors="replace").strip()


async def _gh(*argv: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``gh`` (never prompting) off the event loop."""
    env = {**os.environ, "GH_PROMPT_DISABLED": "1", "GIT_TERMINAL_PROMPT": "0"}
    return await anyio.run_process(["gh", *argv], cwd=cwd, env=env, check=False)
