"""500 enqueues at once, from tasks of this process and from other OS processes."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from aegis.queue import Queue
from aegis.queue.sqlite_backend import SqliteQueueBackend
from tests.queue.fakes import running

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

PRODUCER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from aegis.queue.sqlite_backend import SqliteQueueBackend

    backend = SqliteQueueBackend.for_state_dir(Path(sys.argv[1]))
    name, count, start = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    while time.time() < start:  # all producers begin together
        time.sleep(0.001)
    for i in range(count):
        backend.add("bulk", f"{name}/{i}", sender=f"agent:{name}")
    backend.close()
    """
)

PROCESSES, PER_PROCESS = 4, 75  # 300 from other processes
TASKS, PER_TASK = 8, 25  # 200 from tasks of this process


def start_producers(state: Path, start: float) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", PRODUCER, str(state), f"proc{n}", str(PER_PROCESS), str(start)]
        )
        for n in range(PROCESSES)
    ]


async def test_concurrent_producers_lose_and_duplicate_nothing_and_ids_sort(
    tmp_path: Path,
) -> None:
    state = tmp_path / ".aegis"
    SqliteQueueBackend.for_state_dir(state).close()  # the schema, before the race
    start = time.time() + 1.5  # time for the interpreters to start
    processes = start_producers(state, start)
    ids: list[str] = []
    bulk = Queue("bulk", agent_profile="worker", max_parallel=1)
    async with running(tmp_path, bulk, dispatch=False) as env:

        async def produce(name: str) -> None:
            for i in range(PER_TASK):
                ids.append(await env.queues.enqueue("bulk", f"{name}/{i}"))

        await anyio.sleep(max(0.0, start - time.time()))
        async with anyio.create_task_group() as tg:
            for n in range(TASKS):
                tg.start_soon(produce, f"task{n}")
        for process in processes:
            assert await anyio.to_thread.run_sync(process.wait) == 0
        tasks = await env.queues.list_tasks(limit=None)

    total = PROCESSES * PER_PROCESS + TASKS * PER_TASK
    assert len(tasks) == total
    payloads = [t.payload for t in tasks]
    expected = {f"proc{n}/{i}" for n in range(PROCESSES) for i in range(PER_PROCESS)}
    expected |= {f"task{n}/{i}" for n in range(TASKS) for i in range(PER_TASK)}
    assert len(set(payloads)) == total and set(payloads) == expected  # none lost or duplicated
    assert len({t.id for t in tasks}) == total and set(ids) <= {t.id for t in tasks}
    # Sortable: listing is by id, and id order is each producer's order and commit order.
    in_id_order = [t.id for t in tasks]
    assert in_id_order == sorted(in_id_order)
    for producer in {p.split("/")[0] for p in payloads}:
        mine = [int(p.split("/")[1]) for p in payloads if p.startswith(producer + "/")]
        assert mine == sorted(mine), producer
    producers = [p.split("/")[0] for p in payloads]
    switches = sum(1 for a, b in itertools.pairwise(producers) if a != b)
    assert switches > PROCESSES + TASKS  # they did write at the same time
    created = [t.created_at for t in tasks]
    assert created == sorted(created)
