"""Running ``git``: off the event loop, with its output and a clear error.

Every git call of aegis goes through :func:`git`, which runs the real ``git`` as a
child process with :func:`anyio.run_process` (the event loop never waits on it;
a cancelled call kills its process). Git is asked to never prompt (a credential
question would hang a daemon) and to speak English, so that its messages can be
quoted to the user as they are.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from aegis.errors import WorkspaceError

AEGIS_IDENTITY = {
    "GIT_AUTHOR_NAME": "aegis",
    "GIT_AUTHOR_EMAIL": "aegis@localhost",
    "GIT_COMMITTER_NAME": "aegis",
    "GIT_COMMITTER_EMAIL": "aegis@localhost",
}
"""Who aegis's own commits are by when git knows no user (``user.name`` unset)."""


class LandConflict(WorkspaceError):
    """Landing would conflict: the base and the agent's branch are left as they were.

    ``files`` are the paths that conflict (empty when git did not say which).
    """

    def __init__(self, message: str, *, files: Sequence[str] = (), hint: str | None = None):
        super().__init__(message, hint=hint)
        self.files = list(files)


@dataclass(frozen=True)
class GitResult:
    """What one git command did: its exit status and output (text, trailing space kept)."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def out(self) -> str:
        """Standard output without its final newline."""
        return self.stdout.rstrip("\n")

    def why(self) -> str:
        """Git's own words for a failure (its last lines of stderr, else of stdout)."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return " ".join(line.strip() for line in text[-3:]) or f"exit status {self.returncode}"


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # A prompt for credentials or an editor would hang whatever waits for git.
    env.update(GIT_TERMINAL_PROMPT="0", GIT_EDITOR="true", LC_ALL="C", LANGUAGE="C")
    # Set by git in hooks: a git run from inside one must not act on that repository.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)
    env.update(extra or {})
    return env


async def git(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input: bytes | None = None,
) -> GitResult:
    """Run ``git ARGS`` in ``cwd``; with ``check``, a failure raises :class:`WorkspaceError`.

    ``env`` is added to aegis's environment (``GIT_INDEX_FILE`` for a scratch index).
    """
    try:
        done: subprocess.CompletedProcess[bytes] = await anyio.run_process(
            ["git", *args], cwd=cwd, env=_env(env), check=False, input=input
        )
    except FileNotFoundError as exc:
        if not await anyio.Path(cwd).is_dir():
            raise WorkspaceError(f"{cwd} is not a folder") from exc
        raise WorkspaceError(
            "git is not installed (or not on PATH): worktrees need it",
            hint="install git, or use the shared workspace (drop workspace='worktree')",
        ) from exc
    result = GitResult(
        tuple(args),
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )
    if check and not result.ok:
        raise WorkspaceError(f"git {' '.join(args[:2])} failed: {result.why()}")
    return result


_identity_known: dict[Path, bool] = {}


async def identity_env(repo: Path) -> dict[str, str]:
    """The environment aegis's commits need in ``repo``: none when git knows the user,
    else aegis's own identity (a fresh machine, a container, a test's empty HOME)."""
    known = _identity_known.get(repo)
    if known is None:
        known = (await git("var", "GIT_COMMITTER_IDENT", cwd=repo, check=False)).ok and (
            await git("var", "GIT_AUTHOR_IDENT", cwd=repo, check=False)
        ).ok
        _identity_known[repo] = known
    return {} if known else dict(AEGIS_IDENTITY)
