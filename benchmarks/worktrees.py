"""What a worktree costs a session, on a repository of a realistic size.

A temporary git repository of ``FILES`` files (``DIRS`` folders of small text files,
one commit) holds a project with two profiles of the offline ``scripted`` agent:
one in the shared workspace, one with ``workspace="worktree"``. Over ``ROUNDS``
rounds, alternating, a ``SessionManager`` spawns a session of each (timed from the
call to the session ready, which for the worktree includes ``git worktree add`` of
every file), lets it answer one turn, and closes it (timed until its end, which for
the worktree includes finding no change and removing the worktree and its branch).
Also timed alone: ``git worktree add`` of the same repository, the floor of what a
worktree costs.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import anyio

from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.session import SessionManager
from benchmarks import Result
from benchmarks._stats import load_result, median, overhead, p90

FILES = 10_000
DIRS = 100
ROUNDS = 8
RULES = (ScriptRule(match="hello", reply="hi"),)


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def make_repository(root: Path) -> None:
    """``FILES`` files in ``DIRS`` folders, committed."""
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    per_dir = FILES // DIRS
    for d in range(DIRS):
        folder = root / f"pkg{d:03d}"
        folder.mkdir()
        for f in range(per_dir):
            (folder / f"module{f:03d}.py").write_text(
                f'"""Module {d}.{f}."""\n\n\ndef value() -> int:\n    return {d * per_dir + f}\n'
            )
    (root / ".gitignore").write_text(".aegis/\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "a repository of a realistic size")


async def _measure(root: Path) -> dict[str, list[float]]:
    agents = {
        "shared": Agent(provider=Scripted(rules=RULES)),
        "isolated": Agent(provider=Scripted(rules=RULES), workspace="worktree"),
    }
    samples: dict[str, list[float]] = {
        "spawn shared": [],
        "spawn worktree": [],
        "close shared": [],
        "close worktree": [],
    }
    async with SessionManager(agents, root=root) as sessions:
        for round_number in range(ROUNDS + 1):  # the first round warms up
            for profile, kind in (("shared", "shared"), ("isolated", "worktree")):
                started = time.perf_counter()
                handle = await sessions.spawn(profile)
                ready = time.perf_counter()
                end = await sessions.request(handle, "hello")
                assert end.ok, end.error
                closing = time.perf_counter()
                await sessions.close(handle)
                closed = time.perf_counter()
                if round_number:
                    samples[f"spawn {kind}"].append((ready - started) * 1000)
                    samples[f"close {kind}"].append((closed - closing) * 1000)
    return samples


def _git_alone(root: Path) -> list[float]:
    times: list[float] = []
    for n in range(ROUNDS):
        target = root.parent / f"plain-{n}"
        started = time.perf_counter()
        _git(root, "worktree", "add", "-q", "-b", f"bench/{n}", str(target), "main")
        times.append((time.perf_counter() - started) * 1000)
        _git(root, "worktree", "remove", "--force", str(target))
        _git(root, "branch", "-D", f"bench/{n}")
    return times


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="aegis-bench-worktrees-") as tmp:
        root = Path(tmp) / "repo"
        make_repository(root)
        samples = anyio.run(_measure, root)
        plain = _git_alone(root)
    spawn = overhead(samples["spawn worktree"], samples["spawn shared"])
    results = [
        Result(
            f"spawn to ready, shared workspace ({FILES} files): median",
            median(samples["spawn shared"]),
            "ms",
            f"p90 {p90(samples['spawn shared']):.1f} ms; {ROUNDS} rounds",
        ),
        Result(
            f"spawn to ready, own worktree ({FILES} files): median",
            median(samples["spawn worktree"]),
            "ms",
            f"p90 {p90(samples['spawn worktree']):.1f} ms; against shared {spawn.describe()}",
        ),
        Result(
            "git worktree add alone: median",
            median(plain),
            "ms",
            f"p90 {p90(plain):.1f} ms: the floor of a worktree's cost",
        ),
        Result(
            "close, shared workspace: median",
            median(samples["close shared"]),
            "ms",
            f"p90 {p90(samples['close shared']):.1f} ms",
        ),
        Result(
            "close, own worktree without changes: median",
            median(samples["close worktree"]),
            "ms",
            f"p90 {p90(samples['close worktree']):.1f} ms: git status, worktree and branch removed",
        ),
    ]
    return [*results, load_result()]
