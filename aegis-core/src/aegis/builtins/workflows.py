"""The workflows shipped with aegis-core, registered through ``register_workflows``.

``branch_review``
    Fans a branch's diff out to several reviewer agents in parallel and merges their
    reports into one Markdown file.
``tdd_loop``
    Keeps an implementer agent working until a shell predicate (a test command)
    passes, for a bounded number of rounds.
``best_of_n``
    Several implementers of one task, each in a git worktree of its own; a check
    runs in each, a reviewer agent picks the best of those that pass, and that one
    is landed (the others are discarded).
``execute_plan``
    Carries out a plan file's numbered slices in order: one implementer session per
    slice, a check after each (sent back to that implementer until it passes), a
    checkpoint after each, so that ``aegis workflow resume`` goes on from the first
    slice not done.
"""

from __future__ import annotations

import re
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


MAX_CANDIDATE_DIFF_CHARS = 20_000
"""Each candidate's diff is cut to this in the reviewer's prompt."""


async def best_of_n(
    engine: WorkflowEngine,
    task: str,
    implementer: str,
    check: str,
    n: int = 3,
    reviewer: str = "",
    strategy: str = "squash",
    timeout: float = 600.0,
) -> str:
    """Have N implementers do TASK, each in its own git worktree; land the best that passes CHECK.

    ``n`` sessions of the ``implementer`` profile get the same task at once, each on a
    branch of its own (``aegis/<handle>``, from the project's checked-out branch).
    The shell command ``check`` (e.g. ``pytest -q``) then runs in each worktree; of
    those that pass with changes, the ``reviewer`` profile (default: the
    implementer's) compares the diffs and picks one, which is landed into the base
    with ``strategy`` (``squash``, ``merge`` or ``rebase``). The other branches are
    discarded. Raises WorkflowError when none passes (their branches are discarded
    too) or the landing conflicts (the chosen branch is then kept for review).
    """
    if n < 1:
        raise WorkflowError("n must be at least 1")
    reviewer = reviewer or implementer
    agents = engine.list_agents()
    for role, profile in (("implementer", implementer), ("reviewer", reviewer)):
        if profile not in agents:
            raise WorkflowError(f"unknown {role} profile {profile!r} (agents: {', '.join(agents)})")
    handles: list[str] = []
    for _ in range(n):
        handles.append(await engine.spawn(implementer, workspace="worktree"))
    answers: dict[str, str] = {}

    async def implement(handle: str) -> None:
        try:
            answers[handle] = await engine.ask(handle, task)
        except WorkflowError as exc:
            engine.log(f"{handle} did not finish: {exc}")

    async with anyio.create_task_group() as tg:
        for handle in handles:
            tg.start_soon(implement, handle)
    passing: list[str] = []
    for handle in handles:
        if handle not in answers:
            continue
        folder = (await engine.worktree(handle)).cwd
        outcome = await engine.bash(check, cwd=folder, timeout=timeout)
        engine.log(f"{handle}: `{check}` exit {outcome.returncode}")
        if outcome.returncode == 0:
            passing.append(handle)
    for handle in handles:  # their work is committed on their branches
        await engine.close(handle)
    diffs: dict[str, str] = {}
    for handle in passing:
        record = await engine.worktree(handle)
        if record.state.value == "kept":
            diffs[handle] = await engine.diff(handle)
    if not diffs:
        for handle in handles:
            await engine.discard(handle)
        raise WorkflowError(f"none of the {n} implementers passed `{check}` with changes")
    candidates = list(diffs)
    chosen = candidates[0]
    if len(candidates) > 1:
        chosen = await _pick(engine, reviewer, task, candidates, diffs, answers)
    engine.log(f"chose {chosen} of {len(candidates)} passing candidate(s)")
    result = await engine.land(chosen, strategy)
    for handle in handles:
        if handle != chosen:
            await engine.discard(handle)
    return (
        f"landed aegis/{chosen} into {result.record.base} ({result.strategy.value}, "
        f"{result.stat.summary()}); {len(candidates)} of {n} passed `{check}`"
    )


async def _pick(
    engine: WorkflowEngine,
    reviewer: str,
    task: str,
    candidates: list[str],
    diffs: dict[str, str],
    answers: dict[str, str],
) -> str:
    """The candidate the reviewer prefers (the first, if its answer names none)."""
    parts = [
        f"Several implementers did this task, and each passes the check:\n\n{task}\n\n"
        "Compare the candidates below and choose the best. Answer with your reasons, then "
        "a last line `CHOICE: <number>`."
    ]
    for number, handle in enumerate(candidates, 1):
        text = diffs[handle]
        if len(text) > MAX_CANDIDATE_DIFF_CHARS:
            text = text[:MAX_CANDIDATE_DIFF_CHARS] + "\n[... diff cut ...]\n"
        summary = answers.get(handle, "").strip()[:2000]
        parts.append(f"## Candidate {number}\n\nIts summary: {summary}\n\n```diff\n{text}```")
    judge = await engine.spawn(reviewer)
    try:
        verdict = await engine.ask(judge, "\n\n".join(parts))
    finally:
        await engine.close(judge)
    found = re.findall(r"CHOICE:\s*(\d+)", verdict)
    if found and 1 <= int(found[-1]) <= len(candidates):
        return candidates[int(found[-1]) - 1]
    engine.log("the reviewer named no candidate: taking the first")
    return candidates[0]


PLAN_RETRY = (
    "The check `{cmd}` fails (exit {exit}, retry {attempt} of {max_retries}):\n"
    "```\n{output}\n```\nFix it; this slice is not done until it passes."
)
"""What an implementer of ``execute_plan`` is sent when the check fails after its slice."""


async def execute_plan(
    engine: WorkflowEngine,
    plan: str,
    profile: str,
    check: str = "",
    max_retries: int = 3,
    timeout: float = 600.0,
) -> str:
    """Carry out the numbered slices of the plan file PLAN in order, one implementer each.

    Each slice gets a fresh session of the ``profile`` agent, with the plan's preamble
    and the slice's text. When it answers, the shell command ``check`` (e.g. ``pytest
    -q``; none when empty) runs in the project; while it fails, its output goes back
    to that slice's implementer, at most ``max_retries`` times (then the run fails).
    After each slice a checkpoint ``slice-<n>`` is recorded: ``aegis workflow resume``
    goes on from the first slice not done. The plan format is in docs/workflows.md.
    """
    from aegis.workflow.plan import parse_plan

    agents = engine.list_agents()
    if profile not in agents:
        raise WorkflowError(f"unknown profile {profile!r} (agents: {', '.join(agents)})")
    path = Path(plan)
    if not path.is_absolute():
        path = engine.project_root / path
    try:
        text = await anyio.Path(path).read_text()
    except OSError as exc:
        raise WorkflowError(f"cannot read the plan {path}: {exc.strerror or exc}") from None
    parsed = parse_plan(text)
    done = engine.resume_state()
    total = len(parsed.slices)
    skipped = 0
    for piece in parsed.slices:
        earlier = done.get(piece.key)
        if isinstance(earlier, dict):
            skipped += 1
            if earlier.get("title") != piece.title:
                engine.log(f"warning: slice {piece.number} was {earlier.get('title')!r} when done")
            engine.log(f"slice {piece.number}/{total} done in an earlier attempt: {piece.title}")
            continue
        engine.log(f"slice {piece.number}/{total}: {piece.title}")
        handle = await engine.spawn(profile)
        try:
            answer = await engine.ask(handle, _slice_prompt(path, parsed.preamble, piece, check))
            if check:
                await engine.bash_predicate(
                    check, PLAN_RETRY, max_retries, handle=handle, timeout=timeout
                )
        finally:
            await engine.close(handle)
        await engine.checkpoint(
            piece.key, {"title": piece.title, "by": handle, "answer": answer[-2000:]}
        )
    return (
        f"{total} slice(s) of {path.name} done"
        + (f" ({skipped} in an earlier attempt)" if skipped else "")
        + (f"; `{check}` passes" if check else "")
    )


def _slice_prompt(path: Path, preamble: str, piece: Any, check: str) -> str:
    parts = [f"You are carrying out slice {piece.number} of the plan {path.name}."]
    if preamble:
        parts.append(f"The plan's context:\n{preamble}")
    parts.append(f"Slice {piece.number}: {piece.title}\n{piece.body}".rstrip())
    parts.append(
        "Do this slice only: the later slices come after you."
        + (f" When you are done, `{check}` must pass." if check else "")
    )
    return "\n\n".join(parts)


CATALOGUE: tuple[Callable[..., Any], ...] = (branch_review, tdd_loop, best_of_n, execute_plan)


@hookimpl
def register_workflows(register: Callable[..., None]) -> None:
    for fn in CATALOGUE:
        register(fn)
