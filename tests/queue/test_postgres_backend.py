"""The PostgreSQL backend on a real server: chosen in .aegis.py, migrated by a command,
``max_parallel`` across processes, and clear errors for what a user gets wrong."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from aegis.daemon.lock import holder
from aegis.daemon.protocol import lock_path
from aegis.errors import ConfigError, StateError
from aegis.queue.backend import PayloadTooLarge
from aegis.queue.task import TaskStatus
from aegis_queue_postgres import Postgres
from aegis_queue_postgres.backend import MAX_PAYLOAD_BYTES, PostgresQueueBackend
from aegis_queue_postgres.migrations import LATEST
from tests.fixtures.fakes import AEGIS, aegis_in, clean_env
from tests.support.postgres import PASSWORD, PASSWORD_ENV

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis_queue_postgres import Postgres

agents = {{"offline": Agent(provider=Scripted(rules=[ScriptRule(match="^hello$", reply="hi")]))}}
default_agent = "offline"
queues = [Queue("work", agent_profile="offline", max_parallel=2)]
queue_backend = Postgres({url!r}, password_env={password_env!r})
"""


def project_on(folder: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".aegis.py").write_text(CONFIG.format(url=url, password_env=PASSWORD_ENV))
    return folder


def test_a_project_chooses_it_in_aegis_py_and_migrates_it_with_a_command(
    tmp_path: Path, postgres_url: str
) -> None:
    project = project_on(tmp_path / "p", postgres_url)
    before = aegis_in(project, "--no-daemon", "queue", "list")
    assert before.returncode == 1
    assert "has aegis's tables at version 0" in before.stderr
    assert "aegis queue migrate" in before.stderr  # the hint

    first = aegis_in(project, "queue", "migrate")
    assert first.returncode == 0, first.stderr
    steps = ", ".join(str(step) for step in range(1, LATEST + 1))
    assert first.stdout.strip() == f"applied migrations {steps}: now at version {LATEST}"
    again = aegis_in(project, "queue", "migrate")
    assert again.stdout.strip() == f"up to date: version {LATEST}"

    done = aegis_in(project, "queue", "enqueue", "work", "hello", "--wait", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hi"
    listed = aegis_in(project, "queue", "list", "--json")
    assert json.loads(listed.stdout)[0]["done"] == 1
    # The daemon ran it, and is listed as the one process serving the queues.
    shown = aegis_in(project, "queue", "list").stdout.splitlines()
    at = shown.index(next(line for line in shown if line.startswith("WORKER HOST")))
    assert len(shown) == at + 2
    host, pid, queues, running, *age = shown[at + 1].split()
    assert (host, int(pid), queues, running) == (
        socket.gethostname(),
        holder(lock_path(project / ".aegis")),
        "work",
        "0",
    )
    assert age[-1] == "ago"
    # A 10 MB payload, through the daemon and without it: the CLI's one voice.
    for mode in ([], ["--no-daemon"]):
        refused = subprocess.run(
            [AEGIS, *mode, "queue", "enqueue", "work", "-"],
            input="x" * (10 << 20),
            cwd=project,
            env=clean_env(home=project),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert refused.returncode == 1, mode
        assert refused.stderr.startswith(
            "error: a task's payload is at most 1024 KiB; this one is 10240 KiB\n"
            "  hint: put large inputs in a file"
        ), refused.stderr
    # The task is in the database, not in .aegis/queue.db; the password is nowhere on disk.
    backend = PostgresQueueBackend(postgres_url, password=PASSWORD)
    assert [t.payload for t in backend.list()] == ["hello"]
    backend.close()
    assert not (project / ".aegis" / "queue.db").exists()
    aegis_in(project, "daemon", "stop")
    for path in (project / ".aegis").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_mistakes_get_clear_errors(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="holds a password") as info:
        Postgres("postgresql://aegis:secret@db/aegis")
    assert "password_env" in str(info.value.hint)
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r"\$NO_SUCH_PASSWORD, which is not set"):
        Postgres(postgres_url, password_env="NO_SUCH_PASSWORD").open(tmp_path)

    # A URL that points nowhere (a closed port here): a transient error naming the place.
    nowhere = PostgresQueueBackend("postgresql://aegis@127.0.0.1:1/aegis", password="x")
    with pytest.raises(StateError, match=r"cannot use the queue database 127\.0\.0\.1:1/aegis"):
        nowhere.get("x")
    nowhere.close()

    backend = PostgresQueueBackend(postgres_url, password="wrong")
    with pytest.raises(StateError, match="password authentication failed") as failed:
        backend.get("x")
    assert "wrong" not in str(failed.value)
    backend.close()

    backend = PostgresQueueBackend(postgres_url, password=PASSWORD)
    backend.migrate()
    with pytest.raises(PayloadTooLarge, match="at most 1024 KiB; this one is 10240 KiB"):
        backend.add("work", "x" * (10 * 1024 * 1024))
    assert backend.add("work", "y" * MAX_PAYLOAD_BYTES).payload == "y" * MAX_PAYLOAD_BYTES
    backend.close()


MIGRATE = textwrap.dedent(
    """
    import json, os, sys, time
    from aegis_queue_postgres.backend import PostgresQueueBackend

    backend = PostgresQueueBackend(sys.argv[1], password=os.environ[sys.argv[2]])
    while time.time() < float(sys.argv[3]):
        time.sleep(0.001)
    print(json.dumps(backend.migrate()))
    """
)


def test_migrating_from_several_hosts_at_once_applies_each_step_once(postgres_url: str) -> None:
    start = time.time() + 1.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, postgres_url, PASSWORD_ENV, str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    applied = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        applied.extend(json.loads(out))
    assert sorted(applied) == list(range(1, LATEST + 1))


CLAIMER = textwrap.dedent(
    """
    import os, sys, time
    from aegis.queue.task import TaskStatus
    from aegis_queue_postgres.backend import PostgresQueueBackend

    backend = PostgresQueueBackend(sys.argv[1], password=os.environ[sys.argv[2]])
    owner = f"host{sys.argv[3]}:1:1"
    while time.time() < float(sys.argv[4]):
        time.sleep(0.001)
    idle = 0
    while idle < 200:
        task = backend.claim("work", 3, owner)
        if task is None:
            idle += 1
            time.sleep(0.002)
            continue
        idle = 0
        time.sleep(0.002)  # the work: long enough for claims to contend
        backend.finish(task.id, TaskStatus.done, result=owner)
    backend.close()
    """
)


def test_max_parallel_holds_across_worker_processes_and_each_task_ends_once(
    postgres_url: str,
) -> None:
    setup = PostgresQueueBackend(postgres_url, password=PASSWORD)
    setup.migrate()
    ids = [setup.add("work", f"t{i}").id for i in range(200)]
    start = time.time() + 1.0
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, postgres_url, PASSWORD_ENV, str(n), str(start)],
            env={**os.environ},
        )
        for n in range(4)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    tasks = setup.list(limit=None)
    setup.close()
    assert [t.id for t in tasks] == ids
    assert {t.status for t in tasks} == {TaskStatus.done}
    assert len({t.result for t in tasks}) > 1  # several workers took part
    # The cap, read from the recorded start and end times (the server's one clock).
    edges = sorted(
        [(t.started_at, 1) for t in tasks] + [(t.finished_at, -1) for t in tasks],
        key=lambda edge: (edge[0], edge[1]),
    )
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    assert most <= 3
    # FIFO: the tasks started in the order they were enqueued.
    by_start = sorted(tasks, key=lambda t: (t.started_at, t.id))
    assert [t.id for t in by_start] == ids


def test_a_claim_whose_heartbeats_stop_is_failed_after_its_lease_once_with_one_callback(
    postgres_url: str,
) -> None:
    # Two processes on hosts that cannot see each other: only the lease tells.
    lease = 3.0
    one = PostgresQueueBackend(postgres_url, password=PASSWORD, lease_seconds=lease)
    one.migrate()
    two = PostgresQueueBackend(postgres_url, password=PASSWORD, lease_seconds=lease)
    kept = one.add("work", "kept", sender="agent:boss", callback=True)
    lost = one.add("work", "lost", sender="agent:boss", callback=True)
    assert one.claim("work", 5, "host-a:10:1") is not None
    assert one.claim("work", 5, "host-b:20:1") is not None
    alive = lambda owner: True  # noqa: E731  # other hosts: cannot be judged from here
    deadline = time.monotonic() + 2 * lease
    while time.monotonic() < deadline:  # host-a beats, host-b has gone silent: two leases
        one.heartbeat("host-a:10:1", ["work"])
        time.sleep(lease / 10)
    found = one.recover(alive) + two.recover(alive)
    assert [t.id for t in found] == [lost.id]
    assert found[0].status is TaskStatus.failed and "host-b:20:1" in (found[0].error or "")
    assert "stopped renewing its claim for over 3s" in (found[0].error or "")
    assert one.recover(alive) == [] and two.recover(alive) == []
    assert [t.id for t in one.pending_callbacks()] == [lost.id]  # one callback
    still = one.get(kept.id)
    assert still is not None and still.status is TaskStatus.running
    # The silent process comes back and reports its end: the first end stands.
    assert two.finish(lost.id, TaskStatus.done, result="late") is None
    one.close()
    two.close()


SKEWED = textwrap.dedent(
    """
    import os, sys, time
    real = time.time
    skew = float(sys.argv[3])
    time.time = lambda: real() + skew  # this host's clock is off
    from aegis_queue_postgres.backend import PostgresQueueBackend

    backend = PostgresQueueBackend(sys.argv[1], password=os.environ[sys.argv[2]], lease_seconds=5)
    if sys.argv[4] == "add":
        print(backend.add("work", f"skewed {skew:+g}").id)
    else:
        print(backend.claim("work", 5, "skewed-host:1:1").id)
    """
)


def test_a_host_whose_clock_is_a_minute_off_keeps_fifo_order_and_leases(
    postgres_url: str,
) -> None:
    backend = PostgresQueueBackend(postgres_url, password=PASSWORD, lease_seconds=5)
    backend.migrate()

    def skewed(skew: float, action: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", SKEWED, postgres_url, PASSWORD_ENV, str(skew), action],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    order = [backend.add("work", "first").id, skewed(60, "add"), backend.add("work", "third").id]
    order += [skewed(-60, "add"), backend.add("work", "fifth").id]
    tasks = backend.list()
    assert [t.id for t in tasks] == order == sorted(order)  # FIFO is enqueue order
    created = [t.created_at for t in tasks]
    assert created == sorted(created)  # the server's clock, not the hosts'
    # A claim made by the host a minute behind holds its whole lease: no early expiry.
    assert skewed(-60, "claim") == order[0]
    assert backend.recover(lambda owner: True) == []
    claimed = backend.get(order[0])
    assert claimed is not None and claimed.status is TaskStatus.running
    assert claimed.started_at is not None and claimed.started_at >= created[-1]
    backend.close()
