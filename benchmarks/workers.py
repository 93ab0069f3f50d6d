"""``aegis worker`` processes on PostgreSQL against SQLite: dispatch latency and throughput.

For each backend and each number of worker processes in ``WORKERS``, that many
``aegis worker`` processes serve one queue (``max_parallel`` ``MAX_PARALLEL``) of the
offline ``scripted`` agent; the PostgreSQL server is a throw-away one of
``tests/support/postgres.py`` (``fsync=off``), on this machine.

* **dispatch latency**: ``PROBES`` tasks, each enqueued once the one before ended, so
  every worker is idle when it comes: from the task's ``created_at`` to its
  ``started_at`` (the claim), both written by the backend (PostgreSQL: the server's
  clock). It is what waking up costs: ``LISTEN/NOTIFY`` with PostgreSQL, the 0.25 s
  poll with SQLite. With N idle workers, each enqueue wakes N processes that race for
  the claim.
* **throughput**: ``BATCH`` tasks enqueued at once, from the first ``created_at`` to
  the last ``finished_at``. A task spawns a fresh agent process (about 0.3 s of CPU),
  so on a small machine the CPU, not the queue, sets the rate.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aegis.queue.backend import QueueBackend
from aegis.queue.sqlite_backend import SqliteQueueBackend
from aegis.queue.task import TaskStatus
from benchmarks import Result
from benchmarks._stats import load_result, median, p90
from tests.support.waiting import wait_until

WORKERS = (1, 2, 4, 8)
MAX_PARALLEL = 4
PROBES = 15
BATCH = 24
ROOT = Path(__file__).resolve().parent.parent
AEGIS = Path(sys.executable).parent / "aegis"

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
{backend_import}
agents = {{"offline": Agent(provider=Scripted(rules=[ScriptRule(match="task", reply="done")]))}}
default_agent = "offline"
queues = [Queue("work", agent_profile="offline", max_parallel={max_parallel})]
{backend}
"""


def _project(folder: Path, url: str | None) -> Path:
    folder.mkdir(parents=True)
    backend_import = "from aegis_queue_postgres import Postgres" if url else ""
    backend = f"queue_backend = Postgres({url!r}, password_env='AEGIS_BENCH_PG')" if url else ""
    (folder / ".aegis.py").write_text(
        CONFIG.format(backend_import=backend_import, backend=backend, max_parallel=MAX_PARALLEL)
    )
    return folder


def _start_workers(project: Path, count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    procs = []
    for n in range(count):
        log = (project / f"worker-{n}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [str(AEGIS), "worker"],
                cwd=project,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()
    for n in range(count):
        # Serving once the MCP plane is up and the banner printed.
        wait_until(
            lambda n=n: b"a second one interrupts" in (project / f"worker-{n}.log").read_bytes(),
            120,
            f"worker {n} to start",
        )
    time.sleep(1.0)  # every dispatcher has looked once and naps: idle
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _measure(backend: QueueBackend) -> tuple[list[float], float]:
    """Dispatch latencies (ms) of tasks enqueued on idle workers, then a batch's rate."""
    latencies = []
    for i in range(PROBES):
        task = backend.add("work", f"task {i}")

        def ended(task_id: str = task.id) -> bool:
            found = backend.get(task_id)
            return found is not None and found.status.ended

        wait_until(ended, 60, f"probe {i}")
        done = backend.get(task.id)
        assert done is not None
        assert done.status is TaskStatus.done, done
        assert done.started_at is not None
        latencies.append((done.started_at - done.created_at) * 1000)
        time.sleep(0.3)  # the worker's close is over: idle again
    ids = [backend.add("work", f"task batch {i}").id for i in range(BATCH)]

    def batch_over() -> bool:
        return sum(1 for t in backend.list(limit=BATCH) if t.status.ended) == BATCH

    wait_until(batch_over, 600, "the batch")
    tasks = [backend.get(i) for i in ids]
    first = min(t.created_at for t in tasks if t is not None)
    last = max(t.finished_at or 0.0 for t in tasks if t is not None)
    return latencies, BATCH / (last - first)


def run() -> list[Result]:
    sys.path.insert(0, str(ROOT))
    from aegis_queue_postgres.backend import PostgresQueueBackend
    from tests.support.postgres import PASSWORD, running_server

    results: list[Result] = []
    with running_server() as server, tempfile.TemporaryDirectory() as tmp:
        for kind in ("postgres", "sqlite"):
            for count in WORKERS:
                folder = Path(tmp) / f"{kind}-{count}"
                backend: QueueBackend
                if kind == "postgres":
                    url = server.new_database()
                    project = _project(folder, url)
                    backend = PostgresQueueBackend(url, password=PASSWORD)
                    backend.migrate()  # type: ignore[attr-defined]
                else:
                    project = _project(folder, None)
                    backend = SqliteQueueBackend.for_state_dir(project / ".aegis")
                env = {
                    k: v for k, v in os.environ.items() if k not in ("AEGIS_CONFIG", "PYTHONPATH")
                }
                env |= {"HOME": str(project), "AEGIS_BENCH_PG": PASSWORD, "NO_COLOR": "1"}
                procs = _start_workers(project, count, env)
                try:
                    latencies, rate = _measure(backend)
                finally:
                    _stop(procs)
                    backend.close()
                label = f"{kind}, {count} worker process{'es' if count > 1 else ''}"
                results += [
                    Result(
                        f"dispatch latency ({label}): median",
                        median(latencies),
                        "ms",
                        f"p90 {p90(latencies):.1f} ms; created_at to started_at, {PROBES} "
                        "tasks on idle workers",
                    ),
                    Result(
                        f"throughput ({label})",
                        rate,
                        "tasks/s",
                        f"{BATCH} tasks at once, max_parallel {MAX_PARALLEL}, scripted agent",
                    ),
                ]
    return [*results, load_result()]
