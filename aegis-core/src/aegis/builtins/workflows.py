"""The workflows shipped with aegis-core, registered through ``register_workflows``.

``branch_review``
    Fans a branch's diff out to several reviewer agents in parallel and merges their
    reports into one Markdown file.
``tdd_loop``
    Keeps an implementer agent working until a shell predicate (a test command)
    passes, for a bounded number of rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from aegis.hookspecs import hookimpl
from aegis.workflow.engine import WorkflowEngine
from aegis.workflow.errors import WorkflowError

MAX_DIFF_CHARS = 60_000
"""Longer diffs are cut (with a note) so that every reviewer's prompt stays reasonable."""


async def branch_review(
    engine: WorkflowEngine,
    reviewers: str,
    base: str = "main",
    output: str = "REVIEW.md",
    focus: str = "correctness, tests, and anything surprising",
) -> str:
    """Review the current branch against BASE with several agents; merge their reports.

    ``reviewers`` is a comma-separated list of agent profiles; each reviews the diff
    in its own session, all in parallel. The reports are merged into ``output``
    (relative to the project root). Returns the path of the merged report.
    """
    profiles = list(dict.fromkeys(p.strip() for p in reviewers.split(",") if p.strip()))
    if not profiles:
        raise WorkflowError("name at least one reviewer profile: --arg reviewers=a,b")
    unknown = sorted(set(profiles) - set(engine.list_agents()))
    if unknown:
        raise WorkflowError(
            f"unknown reviewer profile(s): {', '.join(unknown)} "
            f"(agents: {', '.join(engine.list_agents())})"
        )
    diff = await engine.bash(f"git diff --no-color {base}...HEAD", cwd=engine.project_root)
    if diff.returncode != 0:
        raise WorkflowError(f"git diff against {base!r} failed: {diff.stderr.strip()}")
    if not diff.stdout.strip():
        raise WorkflowError(f"no changes between {base!r} and HEAD: nothing to review")
    text = diff.stdout
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + f"\n[... diff cut at {MAX_DIFF_CHARS} characters ...]\n"
    prompt = (
        f"Review this diff of the current branch against {base}. Focus on {focus}. "
        "Answer with a Markdown list of findings, most important first, each naming the "
        f"file and line; say 'No findings.' if there are none.\n\n```diff\n{text}```"
    )
    engine.log(f"reviewing {len(diff.stdout)} characters of diff with: {', '.join(profiles)}")
    reports: dict[str, str] = {}

    async def review(profile: str) -> None:
        handle = await engine.spawn(profile)
        try:
            reports[profile] = await engine.ask(handle, prompt)
        except WorkflowError as exc:
            reports[profile] = f"_(no review: {exc})_"
        finally:
            await engine.close(handle)
        engine.log(f"{profile} finished its review")

    async with anyio.create_task_group() as tg:
        for profile in profiles:
            tg.start_soon(review, profile)
    sections = [f"# Review of the branch against `{base}`\n"]
    for profile in profiles:
        sections.append(f"## {profile}\n\n{reports[profile].strip()}\n")
    target = Path(output)
    if not target.is_absolute():
        target = engine.project_root / target
    await anyio.Path(target).write_text("\n".join(sections))
    engine.log(f"merged {len(profiles)} report(s) into {target}")
    return str(target)


async def tdd_loop(
    engine: WorkflowEngine,
    predicate: str,
    task: str,
    implementer: str,
    max_rounds: int = 5,
    timeout: float = 600.0,
) -> str:
    """Keep an implementer agent going until the shell command PREDICATE passes.

    Each round runs ``predicate`` (e.g. ``pytest -q``); if it exits 0 the loop ends.
    Otherwise the ``implementer`` agent profile gets the task and the failing
    output, and works on it (one session across rounds). Raises WorkflowError when the predicate
    still fails after ``max_rounds`` rounds.
    """
    if max_rounds < 1:
        raise WorkflowError("max_rounds must be at least 1")
    agents = engine.list_agents()
    if implementer not in agents:
        raise WorkflowError(
            f"unknown implementer profile {implementer!r} (agents: {', '.join(agents)})"
        )
    handle: str | None = None
    for round_number in range(1, max_rounds + 1):
        check = await engine.bash(predicate, cwd=engine.project_root, timeout=timeout)
        if check.returncode == 0:
            engine.log(f"predicate passed after {round_number - 1} round(s)")
            return f"`{predicate}` passes after {round_number - 1} round(s)"
        output = (check.stdout + check.stderr)[-4000:]
        engine.log(f"round {round_number}: predicate failed (exit {check.returncode})")
        if handle is None:
            handle = await engine.spawn(implementer)
            message = (
                f"{task}\n\nThe check `{predicate}` must pass. It fails now with:\n"
                f"```\n{output}\n```"
            )
        else:
            message = f"`{predicate}` still fails:\n```\n{output}\n```\nKeep going."
        await engine.ask(handle, message)
    final = await engine.bash(predicate, cwd=engine.project_root, timeout=timeout)
    if final.returncode == 0:
        engine.log(f"predicate passed after {max_rounds} round(s)")
        return f"`{predicate}` passes after {max_rounds} round(s)"
    raise WorkflowError(f"`{predicate}` still fails after {max_rounds} round(s)")


CATALOGUE: tuple[Callable[..., Any], ...] = (branch_review, tdd_loop)


@hookimpl
def register_workflows(register: Callable[..., None]) -> None:
    for fn in CATALOGUE:
        register(fn)
