"""A git worktree per session: made, reused on resume, released at close, swept after a crash.

A session whose profile asks for ``workspace="worktree"`` works in a worktree of
the project's repository of its own, on its own branch:

* the folder is ``.aegis/worktrees/<handle>`` (under the project's state folder),
  and the session's working directory is the project's folder inside it (the
  same path relative to the repository's top as the project's own);
* the branch is ``aegis/<handle>``, made from the base branch's last commit
  (``HEAD``'s branch by default, or the profile's ``workspace_base``);
* a record, ``.aegis/worktrees/<handle>.json``, says where it came from and
  where it stands (:class:`WorktreeRecord`).

What counts as the agent's changes is everything in the worktree but aegis's own
state (any ``.aegis/`` folder): its commits on the branch since the base, and what
it left uncommitted, untracked files included. When the session closes, aegis
commits what is uncommitted onto the branch (so the branch holds all of the
work), then removes the worktree and its branch when there are no changes, and
keeps both otherwise, until ``aegis land`` or ``aegis discard``. When a runtime
starts it runs ``git worktree prune`` and releases the worktrees of sessions whose
aegis process died the same way: a crash loses no branch with changes and leaves
no worktree without.

Nothing is ever half made: a creation that fails (or is cancelled) removes what
it had made. Nothing that holds changes is deleted but by an explicit command.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import anyio

from aegis.errors import WorkspaceError
from aegis.private_files import private_dir, write_private
from aegis.queue.owner import current_owner, is_owner_alive
from aegis.workspace.git import git, identity_env

log = logging.getLogger("aegis.workspace")

WORKTREES_DIR = "worktrees"
"""The folder of worktrees and their records, under the project's ``.aegis``."""

BRANCH_PREFIX = "aegis/"
"""Every agent's branch is ``aegis/<handle>``."""

AEGIS_STATE = ":(exclude,glob)**/.aegis/**"
"""A pathspec leaving aegis's own state out of what counts as the agent's changes
(the offline agent keeps its histories in ``<cwd>/.aegis``)."""


class WorktreeState(str, Enum):
    """Where a worktree stands."""

    creating = "creating"
    """Being made (a record left in this state by a dead process is cleaned up)."""
    active = "active"
    """A live session works in it."""
    kept = "kept"
    """Its session closed with changes: waiting to be landed or discarded."""
    landed = "landed"
    """Merged into its base; worktree and branch removed."""
    discarded = "discarded"
    """Thrown away on request; worktree and branch removed."""
    removed = "removed"
    """Its session closed without changes; worktree and branch removed."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class FileStat:
    """Lines added and deleted in one file (``None`` for a binary file)."""

    path: str
    added: int | None
    deleted: int | None


@dataclass(frozen=True)
class DiffStat:
    """What an agent changed against its base, counted."""

    files: tuple[FileStat, ...] = ()

    @property
    def insertions(self) -> int:
        return sum(f.added or 0 for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deleted or 0 for f in self.files)

    @property
    def empty(self) -> bool:
        return not self.files

    def summary(self) -> str:
        """``3 files changed, +10 -2`` (or ``no changes``)."""
        if not self.files:
            return "no changes"
        count = len(self.files)
        return (
            f"{count} file{'s' if count != 1 else ''} changed, +{self.insertions} -{self.deletions}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "files_changed": len(self.files),
            "insertions": self.insertions,
            "deletions": self.deletions,
            "files": [asdict(f) for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiffStat:
        return cls(tuple(FileStat(**f) for f in data.get("files", [])))


@dataclass(frozen=True)
class WorktreeRecord:
    """One agent's worktree: where it is, what it came from, where it stands."""

    name: str
    """The handle of the session that made it; the folder's and the branch's name."""
    path: Path
    """The worktree's folder."""
    branch: str
    """``aegis/<name>``."""
    repo: Path
    """The top of the project's repository (its main checkout)."""
    subdir: str
    """The project's folder relative to ``repo`` (``""`` at the top): sessions work there."""
    base: str
    """The branch it was made from, and that landing merges into."""
    base_commit: str
    """The base's commit when the worktree was made."""
    state: WorktreeState = WorktreeState.creating
    session: str = ""
    """The session working in it now (a resumed session takes it over)."""
    owner: str | None = None
    """The aegis process whose session works in it (``host:pid:start``)."""
    created_at: float = 0.0
    base_dirty: bool = False
    """The checkout of ``base`` had uncommitted changes to tracked files when the
    worktree was made: the agent does not see them."""
    stat: DiffStat | None = None
    """The changes, as of the session's close (kept) or the landing."""
    landed_commit: str | None = None
    strategy: str | None = None

    @property
    def cwd(self) -> Path:
        """Where a session of this worktree works."""
        return self.path / self.subdir if self.subdir else self.path

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "branch": self.branch,
            "repo": str(self.repo),
            "subdir": self.subdir,
            "base": self.base,
            "base_commit": self.base_commit,
            "state": self.state.value,
            "session": self.session,
            "owner": self.owner,
            "created_at": self.created_at,
            "base_dirty": self.base_dirty,
            "stat": self.stat.as_dict() if self.stat is not None else None,
            "landed_commit": self.landed_commit,
            "strategy": self.strategy,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorktreeRecord:
        stat = data.get("stat")
        return cls(
            name=data["name"],
            path=Path(data["path"]),
            branch=data["branch"],
            repo=Path(data["repo"]),
            subdir=data.get("subdir", ""),
            base=data["base"],
            base_commit=data["base_commit"],
            state=WorktreeState(data.get("state", "creating")),
            session=data.get("session", data["name"]),
            owner=data.get("owner"),
            created_at=data.get("created_at", 0.0),
            base_dirty=bool(data.get("base_dirty", False)),
            stat=DiffStat.from_dict(stat) if isinstance(stat, dict) else None,
            landed_commit=data.get("landed_commit"),
            strategy=data.get("strategy"),
        )

    def summary(self) -> dict[str, Any]:
        """What a task record, a callback and ``aegis_meta`` say of it."""
        return {
            "branch": self.branch,
            "folder": str(self.cwd),
            "base": self.base,
            "state": self.state.value,
            "stat": self.stat.summary() if self.stat is not None else None,
        }


class Worktrees:
    """The worktrees of one project's sessions (see the module's documentation).

    ``root`` is the project's folder (where ``.aegis.py`` is), ``state_dir`` its
    ``.aegis``. Every method that runs git awaits it off the event loop.
    """

    def __init__(self, root: Path, state_dir: Path) -> None:
        self.root = root
        self.state_dir = state_dir
        self.folder = state_dir / WORKTREES_DIR
        # Changes to the repository's worktree list, one at a time in this process
        # (git locks what it must across processes; this keeps its errors away).
        self._lock = anyio.Lock()

    # --- records ------------------------------------------------------------------------

    def record_path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def _write(self, record: WorktreeRecord) -> WorktreeRecord:
        private_dir(self.folder)
        write_private(self.record_path(record.name), json.dumps(record.as_dict(), indent=1))
        return record

    async def save(self, record: WorktreeRecord, **changes: Any) -> WorktreeRecord:
        """Write ``record`` with ``changes`` and return it."""
        updated = replace(record, **changes)
        return await anyio.to_thread.run_sync(self._write, updated)

    def load(self, name: str) -> WorktreeRecord | None:
        """The record of worktree ``name``, or ``None`` (blocking: call it in a thread)."""
        try:
            return WorktreeRecord.from_dict(json.loads(self.record_path(name).read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring the damaged worktree record %s: %s", self.record_path(name), exc)
            return None

    def records(self) -> Iterator[WorktreeRecord]:
        """Every record, oldest first (blocking: call it in a thread)."""
        if not self.folder.is_dir():
            return
        found = [self.load(p.stem) for p in self.folder.glob("*.json")]
        yield from sorted((r for r in found if r is not None), key=lambda r: r.created_at)

    def of_session(self, handle: str) -> WorktreeRecord | None:
        """The worktree session ``handle`` works (or worked) in, or ``None`` (blocking)."""
        record = self.load(handle)
        if record is not None:
            return record
        try:
            meta = json.loads((self.state_dir / "sessions" / handle / "session.json").read_text())
        except (OSError, ValueError):
            return None
        name = meta.get("worktree") if isinstance(meta, dict) else None
        return self.load(name) if isinstance(name, str) else None

    def of_conversation(self, harness_session_id: str) -> WorktreeRecord | None:
        """The worktree of the session that held the CLI conversation ``harness_session_id``:
        a resumed conversation must run in the same folder (claude keys them by folder)."""
        sessions = self.state_dir / "sessions"
        if not self.folder.is_dir() or not sessions.is_dir():
            return None
        for meta_path in sessions.glob("*/session.json"):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            if (
                isinstance(meta, dict)
                and meta.get("harness_session_id") == harness_session_id
                and isinstance(meta.get("worktree"), str)
            ):
                return self.load(meta["worktree"])
        return None

    # --- making one ---------------------------------------------------------------------

    async def _repository(self) -> tuple[Path, str]:
        """The top of the project's repository and the project's folder relative to it."""
        probe = await git("rev-parse", "--show-toplevel", cwd=self.root, check=False)
        if not probe.ok:
            raise WorkspaceError(
                f"{self.root} is not in a git repository: a worktree workspace needs one",
                hint="`git init && git add -A && git commit -m start` there, or give the "
                "profile the shared workspace (drop workspace='worktree')",
            )
        top, root = await anyio.to_thread.run_sync(
            lambda: (Path(probe.out).resolve(), self.root.resolve())
        )
        subdir = root.relative_to(top).as_posix()
        return top, "" if subdir == "." else subdir

    async def _base(self, top: Path, base: str | None) -> tuple[str, str]:
        """The base branch (``base``, or ``HEAD``'s) and its commit."""
        if base is None:
            head = await git("symbolic-ref", "-q", "--short", "HEAD", cwd=self.root, check=False)
            if not head.ok:
                raise WorkspaceError(
                    f"HEAD of {top} is detached: there is no branch for the agent's work "
                    "to start from and land into",
                    hint="check out a branch (`git switch -c work`), or name the base: "
                    "Agent(..., workspace='worktree', workspace_base='main')",
                )
            base = head.out
        commit = await git(
            "rev-parse", "--verify", "-q", f"refs/heads/{base}^{{commit}}", cwd=top, check=False
        )
        if not commit.ok:
            head = await git("symbolic-ref", "-q", "--short", "HEAD", cwd=top, check=False)
            if base == head.out:
                raise WorkspaceError(
                    f"branch {base!r} of {top} has no commit yet: a worktree starts from one",
                    hint="commit something first (`git add -A && git commit -m start`)",
                )
            raise WorkspaceError(
                f"the worktree base {base!r} is not a local branch of {top}",
                hint="name a local branch (`git branch` lists them): the agent's work is "
                "landed into its base",
            )
        return base, commit.out

    async def checked_out(self, top: Path, branch: str) -> Path | None:
        """The folder of the worktree where ``branch`` is checked out, if any."""
        listing = await git("worktree", "list", "--porcelain", cwd=top)
        folder: Path | None = None
        for line in listing.stdout.splitlines():
            if line.startswith("worktree "):
                folder = Path(line.removeprefix("worktree "))
            elif line == f"branch refs/heads/{branch}" and folder is not None:
                return folder
        return None

    async def create(self, name: str, *, base: str | None = None) -> WorktreeRecord:
        """Make worktree ``name`` on a new branch ``aegis/<name>`` from ``base``.

        Raises :class:`WorkspaceError` (and leaves nothing behind) when the project is
        not in a git repository, ``HEAD`` is detached, the base is not a local branch
        or has no commit, or the branch or the folder exists already. Uncommitted
        changes in the base's checkout do not stop it: the worktree starts from the
        base's last commit without them, and the record says so (``base_dirty``).
        """
        top, subdir = await self._repository()
        base, base_commit = await self._base(top, base)
        branch = BRANCH_PREFIX + name
        path = self.folder / name
        exists = await git(
            "rev-parse", "--verify", "-q", f"refs/heads/{branch}", cwd=top, check=False
        )
        if exists.ok:
            raise WorkspaceError(
                f"branch {branch!r} exists already in {top} (from an earlier session?)",
                hint=f"land or discard it first (`aegis land {name}`, `aegis discard {name}`), "
                f"or delete it: `git branch -D {branch}`",
            )
        if path.exists() or self.record_path(name).exists():
            raise WorkspaceError(
                f"{path} exists already: worktree {name!r} was made before",
                hint=f"`aegis discard {name}` removes it",
            )
        checkout = await self.checked_out(top, base)
        dirty = False
        if checkout is not None:
            status = await git(
                "status", "--porcelain", "--untracked-files=no", cwd=checkout, check=False
            )
            dirty = bool(status.stdout.strip())
        record = WorktreeRecord(
            name=name,
            path=path,
            branch=branch,
            repo=top,
            subdir=subdir,
            base=base,
            base_commit=base_commit,
            session=name,
            owner=current_owner(),
            created_at=time.time(),
            base_dirty=dirty,
        )
        async with self._lock:
            await anyio.to_thread.run_sync(self._prepare_folder)
            record = await anyio.to_thread.run_sync(self._write, record)
            try:
                await git(
                    "worktree", "add", "--quiet", "-b", branch, str(path), base_commit, cwd=top
                )
                record = await self.save(record, state=WorktreeState.active)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await self._undo(record)
                if isinstance(exc, WorkspaceError):
                    raise WorkspaceError(
                        f"could not make the worktree of {name}: {exc.message}",
                        hint=exc.hint,
                    ) from None
                raise
        if dirty:
            log.warning(
                "worktree %s starts from %s's last commit %s; the uncommitted changes in %s "
                "are not in it",
                name,
                base,
                base_commit[:12],
                checkout,
            )
        return record

    def _prepare_folder(self) -> None:
        private_dir(self.folder)
        # The worktrees live inside the project's checkout: keep them out of its status.
        ignore = self.folder / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# aegis's agent worktrees (see `aegis diff`, `aegis land`)\n*\n")

    async def _undo(self, record: WorktreeRecord) -> None:
        """Remove whatever a creation that failed had made: the worktree, its branch, the record."""
        await git("worktree", "remove", "--force", str(record.path), cwd=record.repo, check=False)
        if record.path.exists():
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(record.path, ignore_errors=True))
        await git("worktree", "prune", cwd=record.repo, check=False)
        if await self.tip(record) == record.base_commit:  # ours, and nothing on it
            await git("branch", "-D", record.branch, cwd=record.repo, check=False)
        record_path = self.record_path(record.name)
        await anyio.to_thread.run_sync(lambda: record_path.unlink(missing_ok=True))

    async def reuse(self, record: WorktreeRecord, session: str) -> WorktreeRecord:
        """Give ``record``'s worktree to the resumed session ``session``, in the same folder.

        A worktree removed since (its session closed without changes, or it was
        landed) is made again at the same path: a CLI that keys its conversations by
        folder finds the conversation there.
        """
        owner = record.owner
        if (
            record.state is WorktreeState.active
            and owner is not None
            and owner != current_owner()
            and is_owner_alive(owner)
        ):
            raise WorkspaceError(
                f"worktree {record.name} is in use by session {record.session} of another "
                "aegis process",
                hint="close that session first",
            )
        async with self._lock:
            if not (record.path / ".git").exists():
                await git("worktree", "prune", cwd=record.repo, check=False)
                has_branch = await git(
                    "rev-parse",
                    "--verify",
                    "-q",
                    f"refs/heads/{record.branch}",
                    cwd=record.repo,
                    check=False,
                )
                if has_branch.ok:
                    args = [str(record.path), record.branch]
                else:
                    start = record.base_commit
                    if record.state in (WorktreeState.landed, WorktreeState.discarded):
                        start = f"refs/heads/{record.base}"
                    args = ["-b", record.branch, str(record.path), start]
                await anyio.to_thread.run_sync(self._prepare_folder)
                await git("worktree", "add", "--quiet", *args, cwd=record.repo)
            return await self.save(
                record,
                state=WorktreeState.active,
                session=session,
                owner=current_owner(),
                landed_commit=None,
                strategy=None,
            )

    # --- reviewing ------------------------------------------------------------------------

    async def tip(self, record: WorktreeRecord) -> str:
        """The commit the branch is at (``base_commit`` if the branch is gone)."""
        done = await git(
            "rev-parse",
            "--verify",
            "-q",
            f"refs/heads/{record.branch}",
            cwd=record.repo,
            check=False,
        )
        return done.out if done.ok else record.base_commit

    async def snapshot(self, record: WorktreeRecord) -> str:
        """The tree of everything in the worktree now (untracked files too, aegis's state
        not), made with a scratch index: the agent's own index and files are untouched.

        Without the folder, the branch's tree.
        """
        if not (record.path / ".git").exists():
            tip = await self.tip(record)
            return (await git("rev-parse", f"{tip}^{{tree}}", cwd=record.repo)).out
        index = await git(
            "rev-parse", "--path-format=absolute", "--git-path", "index", cwd=record.path
        )
        own_index = Path(index.out)
        # Starting from the agent's index, git re-reads only the files whose stat changed.
        scratch = await anyio.to_thread.run_sync(_scratch_index, own_index, self.folder)
        try:
            env = {"GIT_INDEX_FILE": str(scratch)}
            await git("add", "-A", "--", ".", AEGIS_STATE, cwd=record.path, env=env)
            return (await git("write-tree", cwd=record.path, env=env)).out
        finally:
            scratch.unlink(missing_ok=True)

    async def merge_base(self, record: WorktreeRecord, tip: str) -> str:
        """Where the agent's work forked from its base (the base may have moved on since)."""
        done = await git(
            "merge-base", f"refs/heads/{record.base}", tip, cwd=record.repo, check=False
        )
        return done.out if done.ok else record.base_commit

    async def diff_stat(self, record: WorktreeRecord) -> DiffStat:
        """What the agent changed against its base, committed or not, counted per file."""
        tree = await self.snapshot(record)
        since = await self.merge_base(record, await self.tip(record))
        done = await git("diff", "--numstat", "-z", "--no-renames", since, tree, cwd=record.repo)
        return parse_numstat(done.stdout)

    async def diff(self, record: WorktreeRecord, *, color: bool = False) -> str:
        """The full diff of the agent's changes against its base."""
        tree = await self.snapshot(record)
        since = await self.merge_base(record, await self.tip(record))
        done = await git(
            "diff", f"--color={'always' if color else 'never'}", since, tree, cwd=record.repo
        )
        return done.stdout

    # --- closing ------------------------------------------------------------------------------

    async def commit_work(self, record: WorktreeRecord, message: str) -> bool:
        """Commit whatever is uncommitted in the worktree onto its branch (aegis's state left
        out; no hooks: this saves the work, it does not publish it). Whether it did."""
        if not (record.path / ".git").exists():
            return False
        status = await git(
            "status", "--porcelain", "--", ".", AEGIS_STATE, cwd=record.path, check=False
        )
        if not status.ok or not status.stdout.strip():
            return False
        env = await identity_env(record.repo)
        await git("add", "-A", "--", ".", AEGIS_STATE, cwd=record.path)
        await git("commit", "--no-verify", "-q", "-m", message, cwd=record.path, env=env)
        return True

    async def release(self, record: WorktreeRecord) -> WorktreeRecord:
        """The session of ``record`` has ended: save its work on the branch, then remove the
        worktree and branch if there is no change, else keep them for review."""
        async with self._lock:
            try:
                await self.commit_work(
                    record, f"aegis: work of session {record.session} left uncommitted"
                )
            except WorkspaceError as exc:  # a merge left half-done, hooks...: keep it all
                log.warning("could not commit the work left in %s: %s", record.path, exc)
                return await self.save(record, state=WorktreeState.kept, owner=None)
            on_branch = True
            if (record.path / ".git").exists():
                head = await git("symbolic-ref", "-q", "HEAD", cwd=record.path, check=False)
                on_branch = head.out == f"refs/heads/{record.branch}"
            tip = await self.tip(record)
            if on_branch and tip == record.base_commit:
                await self._remove(record)
                return await self.save(record, state=WorktreeState.removed, owner=None, stat=None)
            try:
                stat: DiffStat | None = await self.diff_stat(record)
            except WorkspaceError as exc:  # kept all the same: `aegis diff` tries again
                log.warning("could not count the changes of %s: %s", record.name, exc)
                stat = None
            return await self.save(record, state=WorktreeState.kept, owner=None, stat=stat)

    async def _remove(self, record: WorktreeRecord, *, branch: bool = True) -> None:
        """Remove the worktree's folder (and its branch): callers have saved what matters."""
        if (record.path / ".git").exists():
            await git("worktree", "remove", "--force", str(record.path), cwd=record.repo)
        elif record.path.exists():
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(record.path, ignore_errors=True))
        await git("worktree", "prune", cwd=record.repo, check=False)
        if branch:
            await git("branch", "-D", record.branch, cwd=record.repo, check=False)

    async def sweep(self) -> list[WorktreeRecord]:
        """Prune git's list of worktrees and release those of dead aegis processes'
        sessions (what a crash left). Returns the records it changed."""
        if not self.folder.is_dir():
            return []
        records = await anyio.to_thread.run_sync(lambda: list(self.records()))
        for repo in {r.repo for r in records}:
            try:
                await git("worktree", "prune", cwd=repo, check=False)
            except WorkspaceError as exc:  # the repository is gone: its records say so
                log.warning("cannot prune the worktrees of %s: %s", repo, exc)
        changed: list[WorktreeRecord] = []
        for record in records:
            if record.state not in (WorktreeState.creating, WorktreeState.active):
                continue
            if record.owner is not None and (
                record.owner == current_owner() or is_owner_alive(record.owner)
            ):
                continue
            try:
                if record.state is WorktreeState.creating:
                    await self._undo(record)
                    log.warning("removed the half-made worktree %s of a dead aegis", record.name)
                    continue
                released = await self.release(record)
            except WorkspaceError as exc:
                log.error("could not tidy the worktree %s: %s", record.name, exc)
                continue
            log.warning(
                "worktree %s of a session that ended with its aegis: %s",
                record.name,
                "kept with its changes" if released.state is WorktreeState.kept else "removed",
            )
            changed.append(released)
        return changed


def _scratch_index(source: Path, folder: Path) -> Path:
    """A copy of the index ``source`` in ``folder``, for git to build a snapshot in."""
    private_dir(folder)
    fd, name = tempfile.mkstemp(prefix=".index-", dir=folder)
    os.close(fd)
    target = Path(name)
    try:
        shutil.copyfile(source, target)
    except FileNotFoundError:  # a fresh worktree may have none yet: git builds it
        target.unlink()
    return target


def parse_numstat(text: str) -> DiffStat:
    """``git diff --numstat -z`` as a :class:`DiffStat`."""
    files: list[FileStat] = []
    for entry in text.split("\0"):
        if not entry:
            continue
        added, deleted, path = entry.split("\t", 2)
        files.append(
            FileStat(
                path,
                None if added == "-" else int(added),
                None if deleted == "-" else int(deleted),
            )
        )
    return DiffStat(tuple(files))


__all__ = [
    "BRANCH_PREFIX",
    "DiffStat",
    "FileStat",
    "WorktreeRecord",
    "WorktreeState",
    "Worktrees",
]
