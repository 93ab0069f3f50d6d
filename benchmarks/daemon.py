"""The daemon: its client's import cost, spawn-to-first-event, event throughput to an
attached client, and its memory with many sessions.

* import: ``python -c "import aegis.daemon.client"`` (and ``aegis.daemon.launch``, what a
  command that may start the daemon loads) against ``python -c pass``, alternating;
* spawn to first event, on the offline ``scripted`` provider: the time from asking for a
  new session to receiving its first event, in-process (a ``Runtime``, subscribed to
  the session manager) and through a running daemon (``POST /v1/sessions`` without waiting,
  then the session's event stream), alternating round by round. The daemon is started
  once, before the rounds: its own start-up is not in the numbers.
* event throughput to an attached client: a scripted session is given ``TURNS`` messages
  at once while a client follows its stream (live: events per second from the first to
  the last, bounded by the agent); then the whole stream is read again from event 0
  (replay: the daemon's SSE path alone), ``REPLAYS`` times.
* memory: the daemon's RSS (``VmRSS`` from ``/proc``) before and with ``SESSIONS`` live
  sessions of the offline ``scripted`` provider (each a real agent process, ready and
  idle after one turn), spawned through the protocol.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import anyio

from benchmarks import Result
from benchmarks._process import Launcher, Samples, compare
from benchmarks._stats import load_result, median, p90

RUNS = 20
WARMUPS = 3
ROUNDS = 15
TURNS = 500
REPLAYS = 5
SESSIONS = 200

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
agents = {"offline": Agent(provider=Scripted(rules=[
    ScriptRule(match="^turn", reply="A reply of a few words, streamed in three chunks."),
]))}
default_agent = "offline"
"""


def _imports(runs: int, warmups: int) -> list[Result]:
    python = Samples("python -c pass", [sys.executable, "-c", "pass"])
    client = Samples(
        "import aegis.daemon.client", [sys.executable, "-c", "import aegis.daemon.client"]
    )
    launch = Samples(
        "import aegis.daemon.launch", [sys.executable, "-c", "import aegis.daemon.launch"]
    )
    with (
        tempfile.TemporaryDirectory(prefix="aegis-bench-") as folder,
        Launcher(cwd=Path(folder), env=None) as launcher,
    ):
        compare(launcher, [python, client, launch], runs=runs, warmups=warmups)
    how = f"{runs} runs after {warmups} warm-ups, alternating; minus python -c pass"
    bare = python.median_ms()
    return [
        Result(f"{s.label}: median above the interpreter", s.median_ms() - bare, "ms", how)
        for s in (client, launch)
    ]


async def _first_events(project: Path, rounds: int) -> tuple[list[float], list[float]]:
    from aegis.config.loader import load_project
    from aegis.daemon.client import DaemonClient, Numbered
    from aegis.daemon.launch import connect, stop
    from aegis.runtime import Runtime

    loaded = load_project([project / ".aegis.py"])
    local: list[float] = []
    remote: list[float] = []
    daemon: DaemonClient = await connect(loaded.path, loaded.state_dir, name="bench")
    try:
        async with Runtime(loaded) as runtime:
            sessions = runtime.sessions
            for _ in range(rounds):
                with sessions.subscribe() as stream:
                    start = time.perf_counter()
                    handle = await sessions.spawn("offline", wait=False)
                    async for source, _event in stream:
                        if source == handle:
                            break
                    local.append((time.perf_counter() - start) * 1000)
                await sessions.close(handle)

                start = time.perf_counter()
                summary = await daemon.spawn("offline", wait=False)
                async for item in daemon.events(summary.handle):
                    if isinstance(item, Numbered):
                        break
                remote.append((time.perf_counter() - start) * 1000)
                await daemon.close(summary.handle)
    finally:
        await stop(loaded.state_dir)
    return local, remote


async def _throughput(project: Path) -> tuple[float, list[float], int]:
    """Live events/s while ``TURNS`` turns run, replay events/s (``REPLAYS`` reads), and
    the number of events."""
    from aegis.daemon.client import Numbered
    from aegis.daemon.launch import connect, stop
    from aegis.events import TurnEnd

    daemon = await connect(project / ".aegis.py", project / ".aegis", name="bench")
    try:
        session = await daemon.spawn("offline")
        first: float | None = None
        count = turns = 0
        async with anyio.create_task_group() as tg:

            async def send() -> None:
                for number in range(TURNS):
                    await daemon.send(session.handle, f"turn {number}")

            async for item in daemon.events(session.handle):
                if not isinstance(item, Numbered):
                    break
                if first is None:
                    first = time.perf_counter()
                    tg.start_soon(send)
                count += 1
                if isinstance(item.event, TurnEnd):
                    turns += 1
                    if turns == TURNS:
                        break
            assert first is not None
            live = (count - 1) / (time.perf_counter() - first)
        replays: list[float] = []
        for _ in range(REPLAYS):
            start = time.perf_counter()
            read = 0
            async for item in daemon.events(session.handle, 0, follow=False):
                if isinstance(item, Numbered):
                    read += 1
            replays.append(read / (time.perf_counter() - start))
        await daemon.close(session.handle)
    finally:
        await stop(project / ".aegis")
    return live, replays, count


async def _memory(project: Path, sessions: int) -> tuple[float, float, float]:
    """The daemon's RSS (MiB) before and with ``sessions`` live scripted sessions, and the
    seconds they took to spawn and answer one turn each."""
    from aegis.daemon.launch import connect, stop
    from benchmarks._memory import rss_kib

    log = project / ".aegis" / "daemon.log"
    earlier = log.stat().st_size if log.exists() else 0  # what earlier daemons wrote
    daemon = await connect(project / ".aegis.py", project / ".aegis", name="bench")
    try:
        pid = int((await daemon.status())["pid"])
        with anyio.fail_after(60):  # the MCP plane loads its SDK after the daemon answers
            while "MCP plane serving" not in log.read_text()[earlier:]:
                await anyio.sleep(0.1)
        await anyio.sleep(1.0)
        before = rss_kib(pid) / 1024
        start = time.perf_counter()
        handles: list[str] = []
        limit = anyio.Semaphore(8)  # spawns in flight: the machine has few cores

        async def one() -> None:
            async with limit:
                summary = await daemon.spawn("offline")
                await daemon.send(summary.handle, "turn 1")
                handles.append(summary.handle)

        async with anyio.create_task_group() as tg:
            for _ in range(sessions):
                tg.start_soon(one)
        with anyio.fail_after(300):
            while any(s.state != "ready" or s.seq < 5 for s in await daemon.sessions() if s.live):
                await anyio.sleep(0.5)
        took = time.perf_counter() - start
        await anyio.sleep(2.0)
        after = rss_kib(pid) / 1024
    finally:
        await stop(project / ".aegis")
    return before, after, took


def run(runs: int = RUNS, warmups: int = WARMUPS, rounds: int = ROUNDS) -> list[Result]:
    results = _imports(runs, warmups)
    with tempfile.TemporaryDirectory(prefix="aegis-bench-") as folder:
        project = Path(folder)
        (project / ".aegis.py").write_text(CONFIG)
        local, remote = anyio.run(_first_events, project, rounds)
        live, replays, events = anyio.run(_throughput, project)
        before, after, took = anyio.run(_memory, project, SESSIONS)
    how = f"{rounds} rounds, alternating; scripted provider"
    flow = f"{TURNS} turns sent at once to one scripted session, {events} events, followed live"
    again = f"the same {events} events read again from 0 over SSE, {REPLAYS} times"
    held = (
        f"{SESSIONS} live sessions of the offline scripted provider, each a real agent "
        f"process, spawned through the protocol (8 at a time) with one turn each, ready "
        f"and idle; took {took:.1f} s"
    )
    return [
        *results,
        Result("spawn to first event, in-process: median", median(local), "ms", how),
        Result("spawn to first event, in-process: p90", p90(local), "ms", how),
        Result("spawn to first event, through the daemon: median", median(remote), "ms", how),
        Result("spawn to first event, through the daemon: p90", p90(remote), "ms", how),
        Result("events to an attached client, live", live, "events/s", flow),
        Result("events to an attached client, replay: median", median(replays), "events/s", again),
        Result("daemon RSS, no session", before, "MiB", "1 s after its MCP plane serves"),
        Result(f"daemon RSS, {SESSIONS} sessions", after, "MiB", held),
        Result(
            "daemon RSS per session",
            (after - before) * 1024 / SESSIONS,
            "KiB",
            f"(with - without) / {SESSIONS}",
        ),
        load_result(),
    ]
