"""``aegis worker`` processes on one PostgreSQL database, standing in for hosts.

The workers run the offline scripted agent; the session that enqueues (and gets the
callbacks) lives in a runtime of the test, as on another host: a callback reaches it
through the database. Draining on SIGTERM, interrupting on a second one, a worker
killed with ``kill -9``, and a database that is not there.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from aegis.queue import Queue
from aegis.queue.backend import INTERRUPTED
from aegis.queue.task import TaskRecord, TaskStatus
from aegis.testing.processes import wait_gone
from tests.e2e.test_exit_paths import cmdline, processes_in
from tests.fixtures.fakes import AEGIS, aegis_in, clean_env, write_fake_distribution
from tests.queue.fakes import open_backend, running
from tests.session.fake_provider import FakeDriver
from tests.support.postgres import PASSWORD_ENV
from tests.support.waiting import until, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers")]

LEASE = 4.0

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptedToolCall, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis_queue_postgres import Postgres

agents = {{"offline": Agent(provider=Scripted(permission="auto", rules=[
    ScriptRule(match="^slow", tool_calls=[
        ScriptedToolCall(tool="bash", input={{"command": "sleep 60"}})
    ], reply="slow done"),
    ScriptRule(match="^quick", reply="quick done"),
]))}}
default_agent = "offline"
queues = [Queue("work", agent_profile="offline", max_parallel=4)]
queue_backend = Postgres({url!r}, password_env={password_env!r}, lease_seconds={lease})
"""

# The test's runtime declares the same queue, and runs none of its tasks.
WORK = Queue("work", agent_profile="worker", max_parallel=4)


def worker_project(folder: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".aegis.py").write_text(
        CONFIG.format(url=url, password_env=PASSWORD_ENV, lease=LEASE)
    )
    return folder


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts ``aegis worker`` processes; whatever still runs is killed at the end."""
    started: list[subprocess.Popen[str]] = []

    def start(
        project: Path, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        log = (project / f"worker-{len(started)}.log").open("w")
        process = subprocess.Popen(
            [str(AEGIS), "worker", *args],
            cwd=project,
            env=env or clean_env(home=project),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def log_of(project: Path, index: int = 0) -> str:
    return (project / f"worker-{index}.log").read_text()


async def exited(process: subprocess.Popen[str], timeout: float = 60) -> int:
    with anyio.fail_after(timeout):
        while process.poll() is None:
            await anyio.sleep(0.05)
    return process.returncode


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_sigterm_drains_and_a_second_one_interrupts_with_one_callback_each(
    tmp_path: Path,
    queue_store: str,
    postgres_url: str,
    workers: Callable[..., subprocess.Popen[str]],
) -> None:
    project = worker_project(tmp_path / "worker-host", postgres_url)
    async with running(tmp_path / "boss-host", WORK, dispatch=False, poll_interval=0.1) as here:
        boss = await here.sessions.spawn("boss")
        boss_driver = FakeDriver.instances[-1]

        async def enqueue(payload: str) -> str:
            return await here.queues.enqueue("work", payload, sender=f"agent:{boss}", callback=True)

        async def status(task_id: str) -> TaskStatus:
            task = await here.queues.get(task_id)
            assert task is not None
            return task.status

        # Draining: the running task finishes, the queued one is left for another worker.
        first = workers(project, "--max-parallel", "1")
        quick = await enqueue("quick one")
        assert (await here.queues.wait(quick, timeout=60)).status is TaskStatus.done
        slowish = await enqueue("slow but let through")
        left = await enqueue("quick, left queued")
        await until(lambda: f"{slowish} work: started" in log_of(project), 60)
        first.send_signal(signal.SIGTERM)
        await until(lambda: "draining" in log_of(project), 30)
        assert await status(slowish) is TaskStatus.running
        # The drain lasts as long as the task: end it (a cancel, as a user would) and the
        # worker exits.
        await here.queues.cancel(slowish)
        assert await exited(first) == 0
        # Stopped in order: no longer listed among the workers.
        listed = await anyio.to_thread.run_sync(here.backend.workers)  # type: ignore[attr-defined]
        assert str(first.pid) not in [str(w["pid"]) for w in listed]
        assert await status(left) is TaskStatus.queued  # taken by nobody while draining

        # A second SIGTERM interrupts: failed with the reason, one callback.
        second = workers(project)
        assert (await here.queues.wait(left, timeout=60)).status is TaskStatus.done
        held = await enqueue("slow, interrupted")
        await until(lambda: f"{held} work: started" in log_of(project, 1), 60)
        second.send_signal(signal.SIGTERM)
        await until(lambda: "draining" in log_of(project, 1), 30)
        second.send_signal(signal.SIGTERM)
        assert await exited(second) == 0
        interrupted = await here.queues.get(held)
        assert interrupted is not None and interrupted.status is TaskStatus.failed
        assert interrupted.error == (
            f"interrupted: the aegis worker running it ({interrupted.owner}) was stopped "
            "(a second stop signal) before the task ended"
        )
        await until(lambda: not here.backend.pending_callbacks(), 30)
        await until(lambda: len(boss_driver.prompts) == 4, 30)
        await anyio.sleep(0.5)  # room for a wrongful second callback
    for task_id in (quick, slowish, left, held):
        assert len([p for p in boss_driver.prompts if task_id in p]) == 1, task_id
    assert "interrupting 1 task(s): a second stop signal" in log_of(project, 1)
    assert "Traceback" not in log_of(project) + log_of(project, 1)


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_a_worker_killed_with_kill_9_loses_its_task_once_and_another_goes_on(
    tmp_path: Path,
    queue_store: str,
    postgres_url: str,
    workers: Callable[..., subprocess.Popen[str]],
) -> None:
    project = worker_project(tmp_path / "worker-host", postgres_url)
    async with running(tmp_path / "boss-host", WORK, dispatch=False, poll_interval=0.1) as here:
        boss = await here.sessions.spawn("boss")
        boss_driver = FakeDriver.instances[-1]
        doomed = workers(project, "--queue", "work", "--max-parallel", "1")
        held = await here.queues.enqueue(
            "work", "slow, lost", sender=f"agent:{boss}", callback=True
        )
        await until(lambda: f"{held} work: started" in log_of(project), 60)
        task = await here.queues.get(held)
        assert task is not None and task.owner is not None
        assert task.owner.split(":")[1] == str(doomed.pid)
        # `aegis queue show` lists it, with its one running task, as any host would.
        shown = await anyio.to_thread.run_sync(
            lambda: aegis_in(project, "queue", "show", timeout=60)
        )
        assert shown.returncode == 0, shown.stderr
        header, *rows = shown.stdout.splitlines()
        assert header.split() == ["WORKER", "HOST", "PID", "QUEUES", "RUNNING", "HEARTBEAT"]
        assert [row.split()[:4] for row in rows] == [
            [socket.gethostname(), str(doomed.pid), "work", "1"]
        ]
        # The scripted agent, and the `sleep 60` of its tool call (a process group of its own).
        await until(lambda: any("sleep" in cmdline(pid) for pid in processes_in(project)), 30)
        agents = processes_in(project, exclude=doomed.pid)
        os.kill(doomed.pid, signal.SIGKILL)  # the worker alone: its agent is left running
        doomed.wait(timeout=30)
        # Another worker takes over the queue, and finds the dead one's claim; on
        # starting, it stops what the dead one left running on this host.
        heir = workers(project, "--drain-timeout", "1")
        await until(lambda: "SIGTERM or Ctrl+C drains" in log_of(project, 1), 60)
        assert wait_gone(agents, timeout=10) == []
        lost = await here.queues.wait(held, timeout=LEASE * 4 + 30)
        after = await here.queues.enqueue(
            "work", "quick, after", sender=f"agent:{boss}", callback=True
        )
        assert (await here.queues.wait(after, timeout=60)).status is TaskStatus.done
        # One SIGTERM, and a task longer than the drain timeout: interrupted at its end.
        late = await here.queues.enqueue(
            "work", "slow, late", sender=f"agent:{boss}", callback=True
        )
        await until(lambda: f"{late} work: started" in log_of(project, 1), 60)
        heir.send_signal(signal.SIGTERM)
        assert await exited(heir) == 0
        timed_out = await here.queues.get(late)
        await until(lambda: not here.backend.pending_callbacks(), 30)
        await until(lambda: len(boss_driver.prompts) == 3, 30)
        await anyio.sleep(0.5)  # room for a wrongful second callback
    assert timed_out is not None and timed_out.status is TaskStatus.failed
    assert timed_out.error == (
        f"interrupted: the aegis worker running it ({timed_out.owner}) was stopped "
        "(the 1 s drain timeout) before the task ended"
    )
    assert [late in p for p in boss_driver.prompts].count(True) == 1
    assert lost.status is TaskStatus.failed
    # On this host its pid tells at once that it died; on another, its lease would.
    assert lost.error == INTERRUPTED or "stopped renewing its claim" in (lost.error or "")
    assert [held in p for p in boss_driver.prompts].count(True) == 1
    assert [after in p for p in boss_driver.prompts].count(True) == 1


def test_a_database_that_is_not_there_is_one_clear_error(tmp_path: Path) -> None:
    # A closed port on this host: refused at once. (A host that drops packets takes
    # the connect timeout, 10 s, and says the same.)
    project = worker_project(tmp_path / "p", "postgresql://aegis@127.0.0.1:1/aegis")
    env = clean_env(home=project) | {PASSWORD_ENV: "x"}
    for argv in (["worker"], ["--no-daemon", "queue", "list"]):
        done = subprocess.run(
            [str(AEGIS), *argv],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 1, (argv, done.stderr)
        assert done.stderr.startswith(
            "error: cannot use the queue database 127.0.0.1:1/aegis: connection failed"
        ), (argv, done.stderr)
        assert "hint: check that the server runs" in done.stderr
        assert "Traceback" not in done.stderr, (argv, done.stderr)
    unknown = subprocess.run(
        [str(AEGIS), "worker", "--queue", "nope"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: no queue 'nope'\n  hint: queues: work")


FAKE_CONFIG = """
from aegis.config import Agent
from aegis.queue import Queue
from aegis_queue_postgres import Postgres
from tests.session.fake_provider import Fake

agents = {{"fake": Agent(provider=Fake())}}
default_agent = "fake"
queues = [Queue("a", agent_profile="fake", max_parallel=3), Queue("b", agent_profile="fake",
    max_parallel=2)]
queue_backend = Postgres({url!r}, password_env={password_env!r})
"""

TASKS = 1000


def peak(tasks: list[TaskRecord]) -> int:
    """The most tasks running at once, read from their recorded start and end times."""
    edges = sorted(
        [(t.started_at, 1) for t in tasks if t.started_at is not None]
        + [(t.finished_at, -1) for t in tasks if t.finished_at is not None]
    )
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_a_thousand_tasks_on_four_workers_run_once_each_in_order_within_the_caps(
    tmp_path: Path,
    queue_store: str,
    postgres_url: str,
    workers: Callable[..., subprocess.Popen[str]],
) -> None:
    # The in-process fake provider (a plugin, as a third party's would be) keeps a task
    # to its queue's work: 1000 agent processes would take minutes.
    site = write_fake_distribution(
        tmp_path / "site",
        "aegis-fake-provider",
        "1.0",
        entry_points={"fake": "fake_provider_plugin:plugin"},
        modules={
            "fake_provider_plugin": "from tests.session.fake_provider import Plugin\n"
            "plugin = Plugin()\n"
        },
    )
    project = tmp_path / "p"
    project.mkdir()
    (project / ".aegis.py").write_text(
        FAKE_CONFIG.format(url=postgres_url, password_env=PASSWORD_ENV)
    )
    env = clean_env(home=project) | {
        "PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parents[2])])
    }
    backend = open_backend(tmp_path)
    ids = {"a": [], "b": []}
    for i in range(TASKS):
        queue = "a" if i % 3 else "b"
        ids[queue].append((await anyio.to_thread.run_sync(backend.add, queue, f"task {i}")).id)
    for _ in range(4):
        workers(project, "--max-parallel", "2", env=env)

    def over() -> bool:
        counts = backend.counts()
        return sum(c.get("done", 0) + c.get("failed", 0) for c in counts.values()) == TASKS

    await until(over, timeout=300)
    tasks = await anyio.to_thread.run_sync(lambda: backend.list(limit=None))
    owners = {t.owner for t in tasks}
    seen_workers = await anyio.to_thread.run_sync(backend.workers)
    backend.close()
    assert len(tasks) == TASKS
    assert {t.status for t in tasks} == {TaskStatus.done}
    assert all(t.result == f"reply: {t.payload}" for t in tasks)
    assert len(owners) > 1  # the workers shared them
    assert {w["owner"] for w in seen_workers} >= owners
    for name, cap in (("a", 3), ("b", 2)):
        mine = [t for t in tasks if t.queue == name]
        assert peak(mine) <= cap, name
        # FIFO: the tasks of a queue started in the order they were enqueued.
        assert [t.id for t in sorted(mine, key=lambda t: (t.started_at, t.id))] == ids[name]
    # No worker ran more than its --max-parallel at once.
    for owner in owners:
        assert peak([t for t in tasks if t.owner == owner]) <= 2, owner


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_the_tui_queue_dashboard_shows_the_workers(tmp_path: Path, queue_store: str) -> None:
    from textual.app import App
    from textual.widgets import Static

    from aegis_tui.screens.queues import QueueDashboard

    async with running(tmp_path, WORK) as here:  # it runs tasks: it beats, it is listed
        dashboard = QueueDashboard(here.queues, ["work"], refresh_every=None)

        class Host(App[None]):
            async def on_mount(self) -> None:
                await self.push_screen(dashboard)

        async with Host().run_test(size=(120, 30)) as pilot:
            await pilot.pause()
            await until(lambda: bool(here.backend.workers()), 10)  # type: ignore[attr-defined]
            await dashboard.reload()
            shown = dashboard.query_one("#workers", Static)
            assert shown.display
            text = str(shown.render())
    assert text.startswith(
        f"worker {socket.gethostname()} pid {os.getpid()}  queues work  running 0"
    )
    assert text.endswith(" ago")


@pytest.mark.parametrize("queue_store", ["postgres"], indirect=True)
async def test_a_handoff_to_a_session_of_another_host_travels_through_the_database(
    tmp_path: Path, queue_store: str
) -> None:
    from aegis.builtins.mcp_tools import HANDOFF_HEADER
    from aegis.session.manager import UnknownSession

    async with (
        running(tmp_path / "a", WORK, dispatch=False, relay=True) as here,
        running(tmp_path / "b", WORK, dispatch=False, relay=True) as there,
    ):
        boss = await here.sessions.spawn("boss")
        boss_driver = FakeDriver.instances[-1]
        helper = await there.sessions.spawn("worker")
        await until(lambda: there.backend.session_holder(boss) is not None, 10)  # type: ignore[attr-defined]
        text = f"{HANDOFF_HEADER.format(handle=helper, profile='worker')}\n\nthe tests pass"
        # Kept in the database for the runtime holding the boss: not handed over here.
        assert await there.inbox.deliver(boss, text, f"agent:{helper}", key="k1") is False
        assert await there.inbox.deliver(boss, text, f"agent:{helper}", key="k1") is False
        await until(lambda: len(boss_driver.prompts) == 1, 10)
        # And back: the boss answers the helper on the other host.
        helper_driver = next(d for d in FakeDriver.instances if d is not boss_driver)
        assert await here.inbox.deliver(helper, "thanks", f"agent:{boss}") is False
        await until(lambda: len(helper_driver.prompts) == 1, 10)
        # A handle no runtime holds is still an unknown session.
        with pytest.raises(UnknownSession):
            await there.inbox.deliver("no-such-session", "hello", f"agent:{helper}")
        await anyio.sleep(0.3)  # room for a wrongful second delivery
    assert boss_driver.prompts == [text]
    assert helper_driver.prompts == ["thanks"]


def test_the_agents_a_killed_worker_left_are_stopped_by_the_next_worker_of_its_host(
    tmp_path: Path,
) -> None:
    # A harness in the middle of a tool call does not notice that its worker died: a
    # process tagged with the dead worker's prefix stands for it (the scripted agent
    # stops its tools itself, so the kill -9 test above cannot show this).
    import json

    from aegis.process import TAG_PREFIX, TAG_VARIABLE
    from aegis.queue import leftovers
    from aegis.queue.owner import current_owner

    state = tmp_path / ".aegis"
    dead = subprocess.Popen(["true"])
    dead.wait()
    dead_owner = f"{socket.gethostname()}:{dead.pid}:1"
    (state / "workers").mkdir(parents=True)
    note = state / "workers" / "dead.json"
    note.write_text(json.dumps({"owner": dead_owner, "process_tag_prefix": "deadbeef"}))
    left = subprocess.Popen(["sleep", "60"], env={**os.environ, TAG_VARIABLE: "deadbeef.1"})
    mine = leftovers.record(state, current_owner())  # alive: kept, its agents untouched
    try:
        # Until it has exec'd, the child shows this process's environment, without the tag.
        environ = Path(f"/proc/{left.pid}/environ")
        wait_until(lambda: b"deadbeef.1" in environ.read_bytes(), 10, "sleep to start")
        assert leftovers.sweep(state) == [left.pid]
        assert left.wait(timeout=10) == -signal.SIGKILL
        assert not note.exists()
        assert json.loads(mine.read_text())["process_tag_prefix"] == TAG_PREFIX
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()
