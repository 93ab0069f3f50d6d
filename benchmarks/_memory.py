"""The orchestrator's own memory with many live sessions, measured in a fresh process.

Run as ``python -m benchmarks._memory SESSIONS MARK``; prints one JSON object. The
process holds nothing but aegis: a ``SessionManager`` with one ``scripted``
profile. It warms up (one session spawned, one turn, closed: every module and
plugin loaded), then records its RSS, spawns ``SESSIONS`` sessions concurrently
(``spawn(wait=True)``), runs one turn on each (concurrently), and records its RSS
again with all of them ready and idle. RSS is ``VmRSS`` of ``/proc/self/status``,
after ``gc.collect()``: this process's, not its children's (their total is reported
apart). Then the manager is left, which stops every agent, and the children that
are still alive are counted (there should be none).

``MARK`` goes into every agent's environment (``AEGIS_BENCH_MARK``) so that the
caller can find any agent left behind.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.session import SessionManager

MARK_VARIABLE = "AEGIS_BENCH_MARK"
PROMPT = "benchmark memory: are you there?"
RULES = (ScriptRule(match="benchmark memory", reply="Yes, ready and idle."),)


def rss_kib(pid: int | str = "self") -> int:
    """``VmRSS`` of process ``pid``, in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _settled_rss() -> int:
    gc.collect()
    return rss_kib()


async def _probe(count: int, mark: str, root: Path) -> dict[str, Any]:
    agent = Agent(provider=Scripted(rules=RULES, env={MARK_VARIABLE: mark}))
    async with SessionManager({"idle": agent}, root=root) as sessions:
        warm = await sessions.spawn("idle")
        await sessions.request(warm, PROMPT)
        await sessions.close(warm)
        before = _settled_rss()
        started = time.perf_counter()
        handles: list[str] = []

        async def one() -> None:
            handle = await sessions.spawn("idle")
            end = await sessions.request(handle, PROMPT)
            if not end.ok:
                raise RuntimeError(f"turn failed on {handle}: {end.error}")
            handles.append(handle)

        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(one)
        ready_s = time.perf_counter() - started
        await anyio.sleep(1.0)  # let the transcripts' writer catch up
        after = _settled_rss()
        kids = children(os.getpid())
        agents_kib = sum(rss_kib(pid) for pid in kids)
    await anyio.sleep(0.5)
    return {
        "sessions": len(handles),
        "rss_before_kib": before,
        "rss_after_kib": after,
        "per_session_kib": (after - before) / max(1, len(handles)),
        "children_live": len(kids),
        "children_rss_kib": agents_kib,
        "spawn_and_turn_s": ready_s,
        "children_left_after_close": len(children(os.getpid())),
    }


def main() -> None:
    count, mark = int(sys.argv[1]), sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="aegis-bench-memory-") as tmp:
        result = anyio.run(_probe, count, mark, Path(tmp))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
