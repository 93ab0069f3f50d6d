"""What aegis adds to a turn and to a session's start, per provider, against raw clients.

For each provider (``scripted``, ``claude``, ``gemini``, ``opencode``), in one run and
against one fake model (``benchmarks._model``, in a process of its own, the same
scripted reply of about 50 words in 8 streamed pieces):

* **turn**: the wall time of one turn on a session that is already ready, sent
  with the same prompt through aegis (``SessionManager.request``: the inbox, the
  driver, the translation to canonical events, the transcript) and through the
  minimal raw client of ``benchmarks._raw`` (the protocol spoken directly).
  ``WARMUP_TURNS`` turns each first, then ``TURNS[name]`` rounds of one aegis turn
  and one raw turn, back to back. aegis writes transcripts in quiet moments, so
  after each aegis turn its transcript is flushed, off the clock (else that work
  would land in the raw turn). The CPU time the benchmark process spent (all its
  threads: aegis's event loop and transcript writer, the flush included, or the raw
  client's reader threads) is reported beside the wall time;
* **spawn**: spawn-to-first-ready, ``SessionManager.spawn(wait=True)`` against the
  raw client's process start plus handshake (claude: ``initialize``; ACP:
  ``initialize`` and ``session/new``), alternating the same way for
  ``SPAWNS[name]`` rounds after one warm-up each. Closing is not timed.

The goal: aegis adds under 5 % to a turn and under 5 % to spawn-to-first-ready.
A provider whose aegis driver is not implemented (its ``Provider.open_driver`` is the
base class's) is reported as missing; its raw numbers are still measured, for
reference. Each aegis session and each raw CLI has its own ``HOME`` and project.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.config.enums import Permission
from aegis.provider import Provider
from aegis.registry import get_registry
from aegis.session import SessionManager
from benchmarks import Result
from benchmarks._model import PROMPT, REPLY, model_server
from benchmarks._raw import Name, raw_starter
from benchmarks._stats import load_result, median, overhead, p90
from tests.support.clis import GEMINI_MODEL, CliNotInstalledError, cli_env
from tests.support.rawclients import RawSession

PROVIDERS: tuple[Name, ...] = ("scripted", "claude", "gemini", "opencode")
TURNS: dict[Name, int] = {"scripted": 100, "claude": 60, "gemini": 60, "opencode": 30}
SPAWNS: dict[Name, int] = {"scripted": 20, "claude": 15, "gemini": 12, "opencode": 8}
WARMUP_TURNS = 5
WARMUP_SPAWNS = 1
GOAL_PCT = 5.0
PROFILE = "bench"
RULES = (ScriptRule(match=PROMPT, reply=REPLY),)
"""The scripted agent's rule: the same reply to the same prompt as the fake model's."""

_HARNESS: dict[Name, str] = {
    "scripted": "scripted",
    "claude": "claude-code",
    "gemini": "gemini",
    "opencode": "opencode",
}


@dataclass
class Samples:
    """Paired wall times (ms) of one measurement: one aegis and one raw sample per round."""

    aegis: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    aegis_cpu: list[float] = field(default_factory=list)
    """CPU time (ms) of the benchmark process, all its threads, during each aegis sample."""
    raw_cpu: list[float] = field(default_factory=list)


def run() -> list[Result]:
    results: list[Result] = []
    with model_server() as url, tempfile.TemporaryDirectory(prefix="aegis-bench-") as tmp:
        for name in PROVIDERS:
            results += _provider(name, Path(tmp) / name, url)
    return [*results, load_result()]


def _provider(name: Name, tmp: Path, url: str) -> list[Result]:
    try:
        profile = _profile(name, tmp / "aegis", url)
    except CliNotInstalledError as exc:
        return [Result(f"{name}: not measured", 0.0, "-", str(exc))]
    start_raw = raw_starter(name, tmp / "raw", url, RULES)
    if not _driver_implemented(name):
        turns, spawns = anyio.run(_raw_only, name, start_raw)
        return _missing(name, turns, spawns)
    agent, env = profile
    turns, spawns = anyio.run(_measure, name, agent, env, tmp / "aegis" / "project", start_raw)
    return _report(name, "turn", turns) + _report(name, "spawn-to-ready", spawns)


def _driver_implemented(name: Name) -> bool:
    provider = get_registry().get(_HARNESS[name]).provider
    return type(provider).open_driver is not Provider.open_driver


def _profile(name: Name, tmp: Path, url: str) -> tuple[Agent, dict[str, str]]:
    """The aegis profile of provider ``name`` against the fake model, and the CLI's env.

    Permission ``full``, as the raw clients run (claude ``bypassPermissions``, gemini
    ``yolo``, opencode ``"permission": "allow"``).
    """
    (tmp / "project").mkdir(parents=True, exist_ok=True)
    if name == "scripted":
        return Agent(provider=Scripted(rules=RULES)), {}
    executable, env, _ = cli_env(name, tmp, url)
    full, path = Permission.full, str(executable)
    if name == "claude":
        from aegis_claude.config import ClaudeCode

        return Agent(provider=ClaudeCode(permission=full, executable=path)), env
    if name == "gemini":
        from aegis_gemini.config import GeminiCLI

        config = GeminiCLI(model=GEMINI_MODEL, permission=full, executable=path)
        return Agent(provider=config), env
    from aegis_opencode.config import OpenCode

    return Agent(provider=OpenCode(permission=full, executable=path)), env


# --- measuring ---------------------------------------------------------------------------


async def _measure(
    name: Name,
    agent: Agent,
    env: dict[str, str],
    project: Path,
    start_raw: Callable[[], RawSession],
) -> tuple[Samples, Samples]:
    async with SessionManager({PROFILE: agent}, root=project, env=env) as sessions:
        turns = await _turns(sessions, start_raw, TURNS[name])
        spawns = await _spawns(sessions, start_raw, SPAWNS[name])
    return turns, spawns


async def _turns(
    sessions: SessionManager, start_raw: Callable[[], RawSession], rounds: int
) -> Samples:
    """Turns on two ready sessions (aegis's and the raw client's), alternating."""
    handle = await sessions.spawn(PROFILE)
    raw = start_raw()
    try:
        samples = Samples()
        for index in range(WARMUP_TURNS + rounds):
            cpu = time.process_time()
            aegis_ms = await _timed(lambda: _aegis_turn(sessions, handle))
            # Off the clock but inside the CPU count: the turn's transcript records, which
            # aegis makes once the session is quiet (here, it would be in the raw turn).
            await sessions.flush_transcripts()
            aegis_cpu = time.process_time() - cpu
            raw_ms = _timed_sync(lambda: _raw_turn(raw))
            raw_cpu = time.process_time() - cpu - aegis_cpu
            if index >= WARMUP_TURNS:
                samples.aegis.append(aegis_ms)
                samples.raw.append(raw_ms)
                samples.aegis_cpu.append(aegis_cpu * 1000)
                samples.raw_cpu.append(raw_cpu * 1000)
        return samples
    finally:
        raw.close()
        await sessions.close(handle)


async def _spawns(
    sessions: SessionManager, start_raw: Callable[[], RawSession], rounds: int
) -> Samples:
    """Spawn-to-first-ready through aegis and raw, alternating; closing is not timed."""
    samples = Samples()
    for index in range(WARMUP_SPAWNS + rounds):
        aegis_ms, handle = await _timed_spawn(sessions)
        await sessions.close(handle)
        raw_ms, raw = _timed_start(start_raw)
        raw.close()
        if index >= WARMUP_SPAWNS:
            samples.aegis.append(aegis_ms)
            samples.raw.append(raw_ms)
    return samples


async def _raw_only(name: Name, start_raw: Callable[[], RawSession]) -> tuple[Samples, Samples]:
    """The raw side alone, for a provider aegis cannot drive yet."""
    turns, spawns = Samples(), Samples()
    raw = start_raw()
    try:
        for index in range(WARMUP_TURNS + TURNS[name]):
            raw_ms = _timed_sync(lambda: _raw_turn(raw))
            if index >= WARMUP_TURNS:
                turns.raw.append(raw_ms)
    finally:
        raw.close()
    for index in range(WARMUP_SPAWNS + SPAWNS[name]):
        raw_ms, started = _timed_start(start_raw)
        started.close()
        if index >= WARMUP_SPAWNS:
            spawns.raw.append(raw_ms)
    return turns, spawns


async def _timed_spawn(sessions: SessionManager) -> tuple[float, str]:
    start = time.perf_counter()
    handle = await sessions.spawn(PROFILE, wait=True)
    return (time.perf_counter() - start) * 1000, handle


def _timed_start(start_raw: Callable[[], RawSession]) -> tuple[float, RawSession]:
    start = time.perf_counter()
    raw = start_raw()
    return (time.perf_counter() - start) * 1000, raw


async def _aegis_turn(sessions: SessionManager, handle: str) -> None:
    end = await sessions.request(handle, PROMPT)
    if not end.ok or end.text.strip() != REPLY:
        raise RuntimeError(f"aegis turn failed: {end.stop_reason} {end.error} {end.text!r}")


def _raw_turn(raw: RawSession) -> None:
    # The raw side runs on the event loop's thread, blocking it: aegis's session is
    # idle meanwhile, and the raw client's reader threads do the waiting.
    turn = raw.turn(PROMPT)
    if turn.text.strip() != REPLY:
        raise RuntimeError(f"raw turn failed: {turn.stop_reason} {turn.text!r}")


async def _timed(action: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await action()
    return (time.perf_counter() - start) * 1000


def _timed_sync(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


# --- reporting ---------------------------------------------------------------------------


def _report(name: Name, what: str, samples: Samples) -> list[Result]:
    rounds = len(samples.aegis)
    how = f"{rounds} rounds (aegis, raw) after warm-ups"
    cost = overhead(samples.aegis, samples.raw)
    met = "met" if cost.pct < GOAL_PCT else "NOT met"
    return [
        Result(f"{name} {what}: aegis median", median(samples.aegis), "ms", how),
        Result(f"{name} {what}: aegis p90", p90(samples.aegis), "ms", how),
        Result(f"{name} {what}: raw median", median(samples.raw), "ms", how),
        Result(f"{name} {what}: raw p90", p90(samples.raw), "ms", how),
        Result(
            f"{name} {what}: aegis overhead",
            cost.pct,
            "%",
            f"goal < {GOAL_PCT:g} % {met}: {cost.describe()}",
        ),
        *_cpu(name, what, samples),
    ]


def _cpu(name: Name, what: str, samples: Samples) -> list[Result]:
    """The client's CPU time per sample (where measured): what aegis itself costs."""
    if not samples.aegis_cpu:
        return []
    how = "time.process_time() of the benchmark process (every thread), median"
    return [
        Result(f"{name} {what}: aegis client CPU", median(samples.aegis_cpu), "ms", how),
        Result(f"{name} {what}: raw client CPU", median(samples.raw_cpu), "ms", how),
    ]


def _missing(name: Name, turns: Samples, spawns: Samples) -> list[Result]:
    note = "raw client only: aegis has no driver for this provider yet (open_driver missing)"
    return [
        Result(f"{name}: aegis driver", 0.0, "-", "MISSING: Provider.open_driver not implemented"),
        Result(f"{name} turn: raw median", median(turns.raw), "ms", note),
        Result(f"{name} turn: raw p90", p90(turns.raw), "ms", note),
        Result(f"{name} spawn-to-ready: raw median", median(spawns.raw), "ms", note),
        Result(f"{name} spawn-to-ready: raw p90", p90(spawns.raw), "ms", note),
    ]
