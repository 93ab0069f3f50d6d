"""Queue throughput and dispatch latency on the ``scripted`` provider, against raw runs.

aegis side: a ``SessionManager``, an ``InboxRouter`` and a ``QueueManager`` (SQLite
backend, default poll interval) with one queue per ``max_parallel`` in
``PARALLEL``, whose profile is a ``scripted`` agent answering the payload. A task
spawns a fresh agent process, runs one turn, records the answer, closes the agent.

raw side: the same work without aegis: ``max_parallel`` threads, each taking the
next job and running ``python -m aegis.builtins.scripted_agent`` (same configuration
environment) through a minimal ACP client: ``initialize``, ``session/new``, one
``session/prompt``, then stdin closed and the exit awaited.

* **throughput**: a batch of ``BATCH[p]`` tasks enqueued at once (raw: started with
  ``p`` threads), timed from the first enqueue to the last task's end (aegis: the
  ``task_finished`` hook, which fires once the worker is closed; raw: the last
  agent's exit). ``ROUNDS`` batches per side, alternating, after one warm-up
  batch each. The goal: aegis reaches at least 80 % of the raw rate (ratio of medians).
* **dispatch latency**: ``BURSTS`` bursts of ``p`` tasks on an idle queue (so no
  task waits for a slot), alternating with raw bursts of ``p`` agents. aegis: from
  just before ``enqueue`` to the worker session ready (``session_started`` hook),
  and to its first turn handed over (``before_send`` hook); raw: from just before
  the process start to ``session/new`` answered (when a raw client sends its prompt).
* **memory**: ``benchmarks._memory`` in a fresh process: the orchestrator's RSS with
  ``SESSIONS`` live scripted sessions against before spawning them.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from aegis import hookimpl
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.inbox import InboxRouter
from aegis.plugins import get_host
from aegis.queue import Queue
from aegis.queue.manager import QueueManager
from aegis.queue.sqlite_backend import SqliteQueueBackend
from aegis.session import SessionManager
from benchmarks import Result
from benchmarks._memory import MARK_VARIABLE
from benchmarks._raw import ScriptedRawSession, scripted_env
from benchmarks._stats import load_result, median, p90

PARALLEL = (1, 2, 4)
BATCH = {1: 8, 2: 12, 4: 16}
ROUNDS = 5
BURSTS = 8
SESSIONS = 200
GOAL_RATIO = 0.8
MEMORY_TIMEOUT_S = 900.0
PAYLOAD = "benchmark task"
RULES = (ScriptRule(match=PAYLOAD, reply="Done: the task ran and its answer is this sentence."),)
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Side:
    """What one side (aegis or raw) measured at one ``max_parallel``."""

    rates: list[float] = field(default_factory=list)
    """Tasks per second, one per batch."""
    ready_ms: list[float] = field(default_factory=list)
    """Enqueue (raw: process start) to session ready."""
    turn_ms: list[float] = field(default_factory=list)
    """Enqueue (raw: process start) to the first turn handed over."""


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="aegis-bench-queues-") as tmp:
        sides = anyio.run(_measure, Path(tmp))
    results: list[Result] = []
    for p in PARALLEL:
        results += _report(p, *sides[p])
    results.append(load_result())
    return results + _memory()


# --- aegis ---------------------------------------------------------------------------------


class Probe:
    """A plugin timing each task's worker: ready (session_started), turn handed over
    (before_send), and the task's end (task_finished, after its worker is closed)."""

    def __init__(self) -> None:
        self.ready: dict[str, float] = {}
        self.sent: dict[str, tuple[str, float]] = {}
        """payload -> (worker handle, time)."""
        self.finished: dict[str, float] = {}
        self.changed = anyio.Event()

    @hookimpl
    def session_started(self, session: Any) -> None:
        self.ready[session.handle] = time.perf_counter()

    @hookimpl
    def before_send(self, handle: str, message: str, sender: str) -> None:
        if sender.startswith("queue:"):
            self.sent[message] = (handle, time.perf_counter())

    @hookimpl
    def task_finished(self, task: Any) -> None:
        self.finished[task.id] = time.perf_counter()
        self.changed.set()

    async def until_finished(self, ids: list[str]) -> float:
        """Wait until every task of ``ids`` has finished; the time the last one did."""
        while not all(i in self.finished for i in ids):
            self.changed = anyio.Event()
            await self.changed.wait()
        return max(self.finished[i] for i in ids)


@contextmanager
def _probe() -> Iterator[Probe]:
    probe = Probe()
    host = get_host()
    host.register(probe, "benchmark-probe")
    try:
        yield probe
    finally:
        host.unregister(probe)


async def _measure(tmp: Path) -> dict[int, tuple[Side, Side]]:
    project = tmp / "project"
    project.mkdir()
    agents = {"worker": Agent(provider=Scripted(rules=RULES))}
    queues = {f"p{p}": Queue(f"p{p}", agent_profile="worker", max_parallel=p) for p in PARALLEL}
    backend = SqliteQueueBackend.for_state_dir(project / ".aegis")
    raw = _RawRunner(project)
    sides: dict[int, tuple[Side, Side]] = {}
    try:
        with _probe() as probe:
            async with (
                SessionManager(agents, root=project) as sessions,
                InboxRouter(sessions, sessions.state_dir) as inbox,
                QueueManager(queues, backend=backend, sessions=sessions, inbox_router=inbox) as qm,
            ):
                runner = _AegisRunner(qm, probe)
                for p in PARALLEL:
                    sides[p] = await _compare(p, runner, raw)
    finally:
        backend.close()
    return sides


class _AegisRunner:
    def __init__(self, queues: QueueManager, probe: Probe) -> None:
        self.queues = queues
        self.probe = probe
        self.count = 0

    async def batch(self, p: int, size: int, side: Side | None) -> None:
        """Enqueue ``size`` tasks at once on queue ``p<p>``; note their latencies and rate."""
        payloads = [self._payload() for _ in range(size)]
        enqueued: dict[str, float] = {}
        ids: list[str] = []
        start = time.perf_counter()
        for payload in payloads:
            enqueued[payload] = time.perf_counter()
            ids.append(await self.queues.enqueue(f"p{p}", payload))
        last = await self.probe.until_finished(ids)
        for task_id in ids:
            task = await self.queues.get(task_id)
            if task is None or task.status.value != "done":
                raise RuntimeError(f"task {task_id} did not succeed: {task}")
        if side is None:
            return
        side.rates.append(size / (last - start))
        for payload, at in enqueued.items():
            handle, sent = self.probe.sent[payload]
            side.ready_ms.append((self.probe.ready[handle] - at) * 1000)
            side.turn_ms.append((sent - at) * 1000)

    def _payload(self) -> str:
        self.count += 1
        return f"{PAYLOAD} {self.count}"


# --- raw -----------------------------------------------------------------------------------


class _RawRunner:
    """Runs scripted agents without aegis: ``p`` threads, one agent at a time each."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.env = scripted_env(RULES)

    def batch(self, p: int, size: int, side: Side | None) -> None:
        jobs: queue.Queue[int] = queue.Queue()
        for number in range(size):
            jobs.put(number)
        ready: list[float] = []
        errors: list[BaseException] = []
        start = time.perf_counter()
        threads = [
            threading.Thread(target=self._work, args=(jobs, ready, errors)) for _ in range(p)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError(f"a raw run failed: {errors[0]!r}")
        if side is not None:
            side.rates.append(size / elapsed)
            side.ready_ms += ready
            side.turn_ms += ready  # a raw client sends its prompt as soon as it is ready

    def _work(
        self, jobs: queue.Queue[int], ready: list[float], errors: list[BaseException]
    ) -> None:
        while True:
            try:
                number = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                ready.append(self._one(number))
            except BaseException as exc:
                errors.append(exc)
                return

    def _one(self, number: int) -> float:
        """One agent: start, handshake, one turn, exit. Returns start-to-ready in ms."""
        start = time.perf_counter()
        session = ScriptedRawSession(self.env, self.project)
        ready_ms = (time.perf_counter() - start) * 1000
        try:
            turn = session.turn(f"{PAYLOAD} raw {number}")
            if turn.stop_reason != "end_turn":
                raise RuntimeError(f"raw turn ended with {turn.stop_reason}")
        finally:
            session.exit()
        return ready_ms


# --- comparing -----------------------------------------------------------------------------


async def _compare(p: int, aegis: _AegisRunner, raw: _RawRunner) -> tuple[Side, Side]:
    """Warm-ups, then throughput batches and latency bursts, aegis and raw in turn.

    The raw side blocks the event loop while it runs: aegis is idle meanwhile.
    """
    ours, theirs = Side(), Side()
    await aegis.batch(p, p, None)
    raw.batch(p, p, None)
    throughput_ours, throughput_theirs = Side(), Side()
    for _ in range(ROUNDS):
        await aegis.batch(p, BATCH[p], throughput_ours)
        raw.batch(p, BATCH[p], throughput_theirs)
    for _ in range(BURSTS):
        await aegis.batch(p, p, ours)
        raw.batch(p, p, theirs)
    ours.rates, theirs.rates = throughput_ours.rates, throughput_theirs.rates
    return ours, theirs


def _report(p: int, ours: Side, theirs: Side) -> list[Result]:
    ratio = median(ours.rates) / median(theirs.rates)
    met = "met" if ratio >= GOAL_RATIO else "NOT met"
    batch = f"{ROUNDS} batches of {BATCH[p]} tasks per side, alternating"
    burst = f"{BURSTS} bursts of {p} on an idle queue per side, alternating"
    return [
        Result(f"p={p} throughput: aegis", median(ours.rates), "tasks/s", _rates(ours, batch)),
        Result(f"p={p} throughput: raw", median(theirs.rates), "tasks/s", _rates(theirs, batch)),
        Result(
            f"p={p} throughput: aegis / raw",
            ratio,
            "x",
            f"goal >= {GOAL_RATIO:g} {met} (ratio of medians)",
        ),
        Result(f"p={p} enqueue -> worker ready: median", median(ours.ready_ms), "ms", burst),
        Result(f"p={p} enqueue -> worker ready: p90", p90(ours.ready_ms), "ms", burst),
        Result(f"p={p} enqueue -> first turn: median", median(ours.turn_ms), "ms", burst),
        Result(f"p={p} enqueue -> first turn: p90", p90(ours.turn_ms), "ms", burst),
        Result(f"p={p} raw start -> ready: median", median(theirs.ready_ms), "ms", burst),
        Result(f"p={p} raw start -> ready: p90", p90(theirs.ready_ms), "ms", burst),
    ]


def _rates(side: Side, how: str) -> str:
    return f"{how}; min {min(side.rates):.2f}, max {max(side.rates):.2f}"


# --- memory --------------------------------------------------------------------------------


def _memory() -> list[Result]:
    mark = uuid.uuid4().hex
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks._memory", str(SESSIONS), mark],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=MEMORY_TIMEOUT_S,
            check=True,
        )
    finally:
        left = _kill_marked(mark)
    data = json.loads(done.stdout.strip().splitlines()[-1])
    how = (
        f"{data['sessions']} scripted sessions spawned concurrently, one turn each, "
        f"ready and idle; VmRSS after gc.collect(); fresh process"
    )
    stopped = data["children_left_after_close"] == 0 and not left
    return [
        Result("memory: orchestrator RSS before", data["rss_before_kib"] / 1024, "MiB", how),
        Result("memory: orchestrator RSS with sessions", data["rss_after_kib"] / 1024, "MiB", how),
        Result(
            "memory: per session", data["per_session_kib"], "KiB", "(after - before) / sessions"
        ),
        Result(
            "memory: the agents' own RSS",
            data["children_rss_kib"] / 1024 / 1024,
            "GiB",
            f"{data['children_live']} agent processes; spawn + turn of all took "
            f"{data['spawn_and_turn_s']:.1f} s; all stopped afterwards: {stopped}",
        ),
    ]


def _kill_marked(mark: str) -> list[int]:
    """SIGKILL any agent of the memory probe still alive (found by its mark); their pids."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    killed: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            pid = int(entry.name)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(pid)
    return killed
