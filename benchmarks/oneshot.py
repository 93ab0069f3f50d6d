"""aegis against a raw ``claude -p`` one-shot, on the same fake model, in one run.

The reference is the thing a user would otherwise type: ``claude -p PROMPT`` (with the
permission mode aegis gives a ``full`` profile and aegis's ``ENABLE_TOOL_SEARCH``), timed
from its start to its exit, with its answer on stdout. Against it, alternating round by
round, in the same project and against the same fake model (``benchmarks._model``, a
process of its own):

* **workflow run, cold**: ``aegis workflow run oneshot`` with no daemon running; the
  workflow is one ``engine.delegate`` to a queue whose worker is a claude session. The
  daemon the command starts is stopped after the round (untimed).
* **workflow run, warm**: the same with the daemon already running (started before the
  round with ``aegis daemon start``, untimed, which returns once the daemon has
  finished starting: its MCP plane serves) and idle, as between two commands a person
  types: the warm worker of the other queue ready, no other session live (each warm
  command below waits for that, untimed).
* **ask, warm**: ``aegis ask worker PROMPT`` on that daemon: the command a user types
  instead of ``claude -p``, one turn in a new session of the daemon.
* **workflow run, warm, warm worker**: the warm run on a queue declared with
  ``warm=1``, whose warm worker is ready.
* **delegate**: one ``engine.delegate`` in-process (a :class:`~aegis.runtime.Runtime`
  running, a :class:`~aegis.workflow.WorkflowEngine` on it), timed around the call, to
  a queue without a warm worker and to one with a ready warm worker.
* **memory**: the RSS of a warm claude worker's process tree, ready and idle.

Every aegis command runs as a user runs it: the venv's ``aegis`` in the project, with
the benchmark's environment (``AEGIS_*`` and ``PYTHONDONTWRITEBYTECODE`` removed: with
byte-code caches, which the warm-up round writes); the claude profile carries claude's
isolated environment (``tests.support.clis``), as the raw side gets it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from benchmarks import Result
from benchmarks._memory import children, rss_kib
from benchmarks._model import PROMPT, REPLY, model_server
from benchmarks._raw import CLAUDE_AEGIS_ENV
from benchmarks._stats import load_result, median, p90

ROUNDS = 8
DELEGATES = 10
AEGIS = Path(sys.executable).parent / "aegis"
TARGETS = {"warm": 1.2, "cold": 1.6, "delegate warm worker": 0.6}

CONFIG = """
from aegis.config import Agent, ClaudeCode, Permission
from aegis.queue import Queue
from aegis.workflow import workflow

agents = {{
    "worker": Agent(provider=ClaudeCode(
        executable={executable!r}, permission=Permission.full, env={env!r},
    )),
}}
default_agent = "worker"
queues = [
    Queue("work", agent_profile="worker", max_parallel=1),
    Queue("hot", agent_profile="worker", max_parallel=1, warm=1),
]


@workflow
async def oneshot(engine):
    return await engine.delegate("work", {prompt!r})


@workflow
async def oneshot_hot(engine):
    return await engine.delegate("hot", {prompt!r})
"""


class Project:
    """A project whose one agent is the pinned claude CLI against ``url``."""

    def __init__(self, tmp: Path, url: str) -> None:
        from tests.support.clis import cli_env

        self.root = tmp / "project"
        self.root.mkdir(parents=True)
        executable, own, _ = cli_env("claude", tmp, url)
        self.claude = executable
        self.claude_env = {**os.environ, **own, **CLAUDE_AEGIS_ENV}
        (self.root / ".aegis.py").write_text(
            CONFIG.format(executable=str(executable), env=own, prompt=PROMPT)
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AEGIS_")}
        # With byte-code caches, as users run (the warm-up round writes them).
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def raw(self) -> float:
        """One ``claude -p``, start to exit, in ms."""
        argv = [str(self.claude), "-p", PROMPT, "--permission-mode", "bypassPermissions"]
        return self._timed(argv, self.claude_env)

    def aegis(self, *args: str) -> float:
        """One ``aegis ARGS``, start to exit, in ms (its output must hold the answer)."""
        return self._timed([str(AEGIS), *args], self.env)

    def quiet(self, *args: str) -> None:
        done = subprocess.run(
            [str(AEGIS), *args], cwd=self.root, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"aegis {' '.join(args)} failed: {done.stderr.strip()}")

    def _timed(self, argv: list[str], env: dict[str, str]) -> float:
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=self.root, env=env, capture_output=True, text=True)
        elapsed = (time.perf_counter() - start) * 1000
        if done.returncode != 0 or REPLY[:40] not in done.stdout:
            raise RuntimeError(
                f"{argv[0]} {' '.join(argv[1:3])} failed ({done.returncode}): "
                f"{done.stdout[-300:]} {done.stderr[-500:]}"
            )
        return elapsed

    def daemon_pid(self) -> int | None:
        from aegis.daemon.lock import holder
        from aegis.daemon.protocol import lock_path

        return holder(lock_path(self.root / ".aegis"))

    def settle(self) -> None:
        """Until the daemon is idle, as between commands a person types: its warm worker
        of queue ``hot`` ready, and no other session live (a worker closes tens of
        milliseconds after its task, a warm worker starts as the daemon does)."""
        from aegis.daemon.client import DaemonClient
        from tests.support.waiting import wait_until

        client = DaemonClient(self.root / ".aegis", name="bench")

        async def idle() -> bool:
            live = [s for s in await client.sessions() if s.state not in ("closed", "failed")]
            return [(s.started_by, s.state) for s in live] == [("queue:hot", "ready")]

        wait_until(lambda: anyio.run(idle), 60, "an idle daemon (warm worker ready, no other)")


def _workflow_runs(project: Project) -> dict[str, list[float]]:
    """Raw, cold, warm and warm-with-a-warm-worker rounds, alternating."""
    samples: dict[str, list[float]] = {
        "raw": [],
        "cold": [],
        "warm": [],
        "ask": [],
        "warm worker": [],
    }
    project.raw()  # warm-ups: the file-system cache, the CLI's first start
    project.aegis("workflow", "run", "oneshot")
    for _ in range(ROUNDS):
        project.quiet("daemon", "stop")
        samples["raw"].append(project.raw())
        samples["cold"].append(project.aegis("workflow", "run", "oneshot"))
        project.quiet("daemon", "start")
        project.settle()
        samples["warm"].append(project.aegis("workflow", "run", "oneshot"))
        project.settle()
        samples["ask"].append(project.aegis("ask", "worker", PROMPT))
        project.settle()
        samples["warm worker"].append(project.aegis("workflow", "run", "oneshot_hot"))
    project.quiet("daemon", "stop")
    return samples


async def _delegates(project: Project) -> tuple[dict[str, list[float]], float]:
    """``engine.delegate`` in-process, to ``work`` and to ``hot`` (warm worker ready),
    alternating with raw one-shots; and a warm worker's RSS."""
    from aegis.config.loader import load_project
    from aegis.runtime import Runtime
    from aegis.workflow import WorkflowEngine

    samples: dict[str, list[float]] = {"raw": [], "cold worker": [], "warm worker": []}
    runtime = Runtime(load_project([project.root / ".aegis.py"]))
    async with runtime:
        engine = WorkflowEngine(
            workflow_name="bench",
            workflow_run_id="bench",
            bridge=runtime.sessions,
            queue_manager=runtime.queues,
            inbox_router=runtime.inbox,
        )
        assert runtime.mcp is not None
        await runtime.mcp.wait_serving()

        async def warm_ready() -> str:
            with anyio.fail_after(60):
                while True:
                    for handle in runtime.queues.warm_workers():
                        if runtime.sessions.get(handle).state.value == "ready":
                            return handle
                    await anyio.sleep(0.02)

        async def timed(queue: str) -> float:
            start = time.perf_counter()
            answer = await engine.delegate(queue, PROMPT)
            elapsed = (time.perf_counter() - start) * 1000
            if REPLY[:40] not in answer:
                raise RuntimeError(f"delegate to {queue} answered {answer!r}")
            return elapsed

        await timed("work")  # warm-up
        await warm_ready()
        with anyio.fail_after(60):  # the warm-up's worker closes after its task's end
            while any(
                info.state.live and info.handle not in runtime.queues.warm_workers()
                for info in runtime.sessions.list_sessions()
            ):
                await anyio.sleep(0.02)
        worker_rss = _claude_rss()
        for _ in range(DELEGATES):
            samples["raw"].append(await anyio.to_thread.run_sync(project.raw))
            samples["cold worker"].append(await timed("work"))
            await warm_ready()
            samples["warm worker"].append(await timed("hot"))
    return samples, worker_rss


def _claude_rss() -> float:
    """The RSS of the claude processes under this one (and their children), in MiB: at
    the time it is called, only the warm worker's."""
    total, todo = 0, children(os.getpid())
    while todo:
        pid = todo.pop()
        try:
            mine = b"claude" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if mine:
            total += rss_kib(pid)
            todo += children(pid)  # its own children count, whatever they are called
        else:
            todo += [c for c in children(pid) if c not in todo]
    return total / 1024


def run() -> list[Result]:
    with model_server() as url, tempfile.TemporaryDirectory(prefix="aegis-bench-1shot-") as tmp:
        project = Project(Path(tmp), url)
        try:
            runs = _workflow_runs(project)
            delegates, worker_rss = anyio.run(_delegates, project)
        finally:
            if project.daemon_pid() is not None:
                project.quiet("daemon", "stop")
    return _report(runs, delegates, worker_rss)


def _report(
    runs: dict[str, list[float]], delegates: dict[str, list[float]], worker_rss: float
) -> list[Result]:
    how = f"{ROUNDS} rounds, alternating with a raw `claude -p`; start to exit"
    raw = median(runs["raw"])
    results = [Result("raw claude -p one-shot: median", raw, "ms", how)]
    results.append(Result("raw claude -p one-shot: p90", p90(runs["raw"]), "ms", how))
    labels: list[tuple[str, str, Callable[[float], str]]] = [
        ("cold", "workflow run, cold (no daemon)", lambda r: _goal("cold", r)),
        ("warm", "workflow run, warm (daemon running)", lambda r: _goal("warm", r)),
        ("ask", "ask, warm (daemon running)", lambda r: ""),
        ("warm worker", "workflow run, warm, queue with a warm worker", lambda r: ""),
    ]
    for key, label, goal in labels:
        ratio = median(runs[key]) / raw
        results += [
            Result(f"{label}: median", median(runs[key]), "ms", how),
            Result(f"{label}: p90", p90(runs[key]), "ms", how),
            Result(f"{label} / raw", ratio, "x", goal(ratio) or "ratio of medians"),
        ]
    how = f"{DELEGATES} rounds in-process, alternating with a raw `claude -p`"
    raw = median(delegates["raw"])
    results.append(Result("delegate: raw claude -p one-shot: median", raw, "ms", how))
    for key, goal in (("cold worker", ""), ("warm worker", "delegate warm worker")):
        ratio = median(delegates[key]) / raw
        results += [
            Result(f"delegate, {key}: median", median(delegates[key]), "ms", how),
            Result(f"delegate, {key}: p90", p90(delegates[key]), "ms", how),
            Result(
                f"delegate, {key} / raw",
                ratio,
                "x",
                _goal(goal, ratio) if goal else "ratio of medians",
            ),
        ]
    results.append(
        Result(
            "warm claude worker: RSS of its process tree",
            worker_rss,
            "MiB",
            "ready and idle, nothing received (node and its children)",
        )
    )
    results.append(load_result())
    return results


def _goal(name: str, ratio: float) -> str:
    target = TARGETS[name]
    return f"goal <= {target:g}x {'met' if ratio <= target else 'NOT met'} (ratio of medians)"
