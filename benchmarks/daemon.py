"""The daemon's client: its import cost, and spawn-to-first-event through the daemon.

* import: ``python -c "import aegis.daemon.client"`` (and ``aegis.daemon.launch``, what a
  command that may start the daemon loads) against ``python -c pass``, alternating;
* spawn to first event, on the offline ``scripted`` provider: the time from asking for a
  new session to receiving its first event, in-process (a ``Runtime``, subscribed to
  the session manager) and through a running daemon (``POST /v1/sessions`` without waiting,
  then the session's event stream), alternating round by round. The daemon is started
  once, before the rounds: its own start-up is not in the numbers.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import anyio

from benchmarks import Result
from benchmarks._process import Launcher, Samples, compare
from benchmarks._stats import median, p90

RUNS = 20
WARMUPS = 3
ROUNDS = 15

CONFIG = """
from aegis.builtins.scripted import Scripted
from aegis.config import Agent
agents = {"offline": Agent(provider=Scripted())}
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


def run(runs: int = RUNS, warmups: int = WARMUPS, rounds: int = ROUNDS) -> list[Result]:
    results = _imports(runs, warmups)
    with tempfile.TemporaryDirectory(prefix="aegis-bench-") as folder:
        project = Path(folder)
        (project / ".aegis.py").write_text(CONFIG)
        local, remote = anyio.run(_first_events, project, rounds)
    how = f"{rounds} rounds, alternating; scripted provider"
    return [
        *results,
        Result("spawn to first event, in-process: median", median(local), "ms", how),
        Result("spawn to first event, in-process: p90", p90(local), "ms", how),
        Result("spawn to first event, through the daemon: median", median(remote), "ms", how),
        Result("spawn to first event, through the daemon: p90", p90(remote), "ms", how),
    ]
