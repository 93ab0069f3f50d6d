"""The backends' guarantees: atomic claims, first end wins, crash recovery.

The tests that take the ``queue_store`` fixture run on SQLite and on PostgreSQL
(a real server): they are the contract every backend keeps.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aegis.errors import ConfigError
from aegis.queue import task as task_module
from aegis.queue.backend import INTERRUPTED, QueueBackend
from aegis.queue.backends import get_queue_backend
from aegis.queue.owner import current_owner, is_owner_alive
from aegis.queue.sqlite_backend import SqliteQueueBackend
from aegis.queue.task import TaskStatus, new_task_id
from tests.queue.fakes import open_backend


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def dead_owner() -> str:
    return f"{socket.gethostname()}:{dead_pid()}:12345"


@pytest.fixture
def backend(tmp_path: Path, queue_store: str) -> Iterator[QueueBackend]:
    """A backend of the test's store: SQLite, then PostgreSQL."""
    backend = open_backend(tmp_path)
    yield backend
    backend.close()


def test_the_sqlite_backend_is_registered_through_the_plugin_hook(tmp_path: Path) -> None:
    backend = get_queue_backend(None, tmp_path / ".aegis")
    assert isinstance(backend, SqliteQueueBackend) and isinstance(backend, QueueBackend)
    assert backend.path == tmp_path / ".aegis" / "queue.db"
    backend.close()


def test_an_unknown_backend_name_lists_the_registered_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEGIS_QUEUE_BACKEND", "redis")
    with pytest.raises(ConfigError, match="no queue backend 'redis'") as info:
        get_queue_backend(None, tmp_path)
    assert "sqlite" in str(info.value)


def test_ids_sort_in_creation_order_and_stay_after_a_given_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [new_task_id() for _ in range(3000)]  # several per millisecond
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == 16 for i in ids)
    # The floor is the process's: put back after this test, or every later id of this
    # process would follow an id three thousand years ahead, and overflow.
    monkeypatch.setattr(task_module, "_last", task_module._last)
    far_ahead = "zzzzzzzzz00aaaaa"
    assert new_task_id(after=far_ahead) > far_ahead


def test_claim_takes_the_oldest_and_never_more_than_max_parallel_across_connections(
    tmp_path: Path, queue_store: str
) -> None:
    one = open_backend(tmp_path)
    two = open_backend(tmp_path)  # as another process would
    ids = [one.add("q", f"p{i}").id for i in range(4)]
    one.add("other", "x")
    first = one.claim("q", 2, "a")
    second = two.claim("q", 2, "b")
    assert (first and first.id, second and second.id) == (ids[0], ids[1])
    assert one.claim("q", 2, "a") is None and two.claim("q", 2, "b") is None
    assert two.claim("other", 1, "b") is not None
    assert one.finish(ids[0], TaskStatus.done, result="r") is not None
    third = two.claim("q", 2, "b")
    assert third is not None and third.id == ids[2] and third.owner == "b"
    assert third.status is TaskStatus.running and third.started_at is not None
    one.close()
    two.close()


def test_the_first_end_of_a_task_wins(backend: QueueBackend) -> None:
    task = backend.add("q", "p", sender="agent:boss", callback=True)
    backend.claim("q", 1, "me")
    cancelled = backend.finish(task.id, TaskStatus.cancelled, error="cancelled")
    assert cancelled is not None and cancelled.status is TaskStatus.cancelled
    assert backend.finish(task.id, TaskStatus.done, result="too late") is None
    after = backend.get(task.id)
    assert after is not None and after.status is TaskStatus.cancelled and after.result is None
    assert [t.id for t in backend.pending_callbacks()] == [task.id]
    backend.mark_callback_delivered(task.id)
    assert backend.pending_callbacks() == []


def test_owner_liveness_tells_a_reused_pid_from_the_process_that_had_it() -> None:
    me = current_owner()
    host, pid, _ = me.split(":")
    assert int(pid) == os.getpid() and is_owner_alive(me)
    assert not is_owner_alive(f"{host}:{pid}:another-start-time")
    assert not is_owner_alive(dead_owner())
    assert is_owner_alive("some-other-host:1:1")  # cannot be judged from here


def test_recovery_fails_the_tasks_of_a_dead_owner_once_with_one_callback(
    backend: QueueBackend,
) -> None:
    dead, alive = dead_owner(), current_owner()
    orphan = backend.add("q", "orphan", sender="agent:boss", callback=True)
    mine = backend.add("q", "mine", sender="agent:boss", callback=True)
    queued = backend.add("q", "queued", sender="agent:boss", callback=True)
    backend.claim("q", 5, dead)
    backend.claim("q", 5, alive)
    recovered = backend.recover(is_owner_alive)
    assert [t.id for t in recovered] == [orphan.id]
    assert recovered[0].status is TaskStatus.failed and recovered[0].error == INTERRUPTED
    assert backend.recover(is_owner_alive) == []  # twice: nothing more
    assert [t.id for t in backend.pending_callbacks()] == [orphan.id]
    assert [backend.get(t.id).status for t in (mine, queued)] == [  # type: ignore[union-attr]
        TaskStatus.running,
        TaskStatus.queued,
    ]


RECOVER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from aegis.queue.owner import is_owner_alive

    if sys.argv[1].startswith("postgresql://"):
        from aegis_queue_postgres.backend import PostgresQueueBackend
        backend = PostgresQueueBackend(sys.argv[1], password=os.environ["AEGIS_TEST_PG_PASSWORD"])
    else:
        from aegis.queue.sqlite_backend import SqliteQueueBackend
        backend = SqliteQueueBackend.for_state_dir(Path(sys.argv[1]))
    while time.time() < float(sys.argv[2]):  # start together
        time.sleep(0.001)
    print(json.dumps([t.id for t in backend.recover(is_owner_alive)]))
    """
)


def test_recovery_in_several_threads_and_processes_at_once_recovers_each_task_once(
    tmp_path: Path, queue_store: str, request: pytest.FixtureRequest
) -> None:
    store = request.getfixturevalue("postgres_url") if queue_store == "postgres" else tmp_path
    setup = open_backend(tmp_path)
    owner = dead_owner()
    ids = [setup.add("q", f"p{i}", sender="agent:boss", callback=True).id for i in range(20)]
    while setup.claim("q", 100, owner) is not None:
        pass
    start = time.time() + 1.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RECOVER_SCRIPT, str(store), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    found: list[str] = []
    lock = threading.Lock()

    def recover() -> None:
        backend = open_backend(tmp_path)
        while time.time() < start:
            time.sleep(0.001)
        got = backend.recover(is_owner_alive)
        with lock:
            found.extend(t.id for t in got)
        backend.close()

    threads = [threading.Thread(target=recover) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        found.extend(json.loads(out))
    assert sorted(found) == ids  # each recovered exactly once, by someone
    assert [t.id for t in setup.pending_callbacks()] == ids  # one callback each
    assert setup.counts() == {"q": {"failed": 20}}
    setup.close()
