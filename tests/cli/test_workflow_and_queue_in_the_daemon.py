"""`aegis workflow run|watch|cancel` and `aegis queue enqueue` as clients of the daemon, run
as a user would (real `aegis` processes, the daemon they start, the offline agent); and the
in-process run (`--no-daemon`), which runs only the queues its workflow uses."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.conftest import daemon_pid
from tests.e2e.test_exit_paths import processes_in, start
from tests.fixtures.fakes import aegis_in
from tests.support.daemons import stop_daemons_under
from tests.support.waiting import wait_until

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis.workflow import workflow

agents = {
    "offline": Agent(provider=Scripted(rules=[
        ScriptRule(match="^hello$", reply="hi there"),
        ScriptRule(match="^review (.+)$", reply="reviewed {1}"),
        ScriptRule(match="^slow$", reply="late", delay=60),
    ])),
}
default_agent = "offline"
queues = [
    Queue("work", agent_profile="offline", max_parallel=2),
    Queue("other", agent_profile="offline", max_parallel=1),
]


@workflow
async def pair(engine, topic: str) -> str:
    handle = await engine.spawn("offline")
    greeting = await engine.ask(handle, "hello")
    review = await engine.delegate("work", f"review {topic}")
    return f"{greeting} | {review}"


@workflow
async def greet(engine) -> str:
    return await engine.ask(await engine.spawn("offline"), "hello")


@workflow
async def stuck(engine) -> None:
    await engine.ask(await engine.spawn("offline"), "slow")
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("workflows") / "project"
    root.mkdir()
    (root / ".aegis.py").write_text(CONFIG)
    yield root
    stop_daemons_under(root)


def aegis(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return aegis_in(project, *args)


def run_record(project: Path, run_id: str = "last") -> dict[str, object]:
    shown = aegis(project, "workflow", "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    record: dict[str, object] = json.loads(shown.stdout)
    return record


def sessions(project: Path) -> dict[str, dict[str, object]]:
    listed = aegis(project, "ps", "--all", "--json")
    assert listed.returncode == 0, listed.stderr
    return {row["handle"]: row for row in json.loads(listed.stdout)}


def test_a_run_in_the_daemon_streams_its_log_and_its_sessions_and_ends_as_it_ran(
    project: Path,
) -> None:
    ran = aegis(project, "workflow", "run", "pair", "topic=the diff")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hi there | reviewed the diff\n"
    record = run_record(project)
    assert record["status"] == "ok" and record["arguments"] == {"topic": "the diff"}
    # Its log lines, and the events of the session it spawned and of its task's worker.
    spawned = str(record["log"][0][1]).split()[1]  # type: ignore[index]
    [task] = json.loads(aegis(project, "queue", "tasks", "work", "--json").stdout)
    worker = task["worker_handle"]
    err = ran.stderr
    assert f"spawned {spawned} (offline)" in err and f"delegated {task['id']} to queue work" in err
    assert f"{spawned}: ← [workflow:{record['id']}] hello" in err
    assert f"{spawned}: → hi there" in err
    assert f"{worker}: ← [queue:work] review the diff" in err
    assert f"{worker}: → reviewed the diff" in err
    assert err.rstrip().splitlines()[-1].startswith(f"ok: {record['id']} (")
    # The daemon ran it: its sessions are the daemon's, closed with the run.
    both = sessions(project)
    assert both[spawned]["started_by"] == f"workflow:{record['id']}"
    assert both[worker]["started_by"] == "queue:work"
    assert both[spawned]["state"] == both[worker]["state"] == "closed"

    as_json = aegis(project, "workflow", "run", "pair", "topic=x", "--json")
    assert json.loads(as_json.stdout)["result"] == "hi there | reviewed x"
    refused = aegis(project, "workflow", "run", "pair", "subject=x")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: unknown argument 'subject' (arguments: topic)")


def test_ctrl_c_cancels_the_run_in_the_daemon_and_leaves_no_process(project: Path) -> None:
    running = start(project, "workflow", "run", "stuck")
    assert running.stderr is not None
    for line in running.stderr:  # pytest-timeout bounds the wait
        if "← [workflow:" in line and line.rstrip().endswith("slow"):
            break
    else:
        raise AssertionError("the run ended before its agent got its message")
    handle = line.split(":")[0].strip()
    running.send_signal(signal.SIGINT)
    _, err = running.communicate(timeout=60)
    assert running.returncode == 130, err
    assert "cancelling " in err and "cancelled: " in err
    record = run_record(project)
    assert (record["workflow"], record["status"], record["error"]) == (
        "stuck",
        "failed",
        "cancelled",
    )
    assert sessions(project)[handle]["state"] == "closed"
    # The run's agent is gone with it; only the daemon runs in the project.
    daemon = daemon_pid(project)
    assert daemon is not None
    wait_until(lambda: processes_in(project, exclude=daemon) == [], 30, "the agent to exit")


def test_a_detached_run_goes_on_and_workflow_cancel_stops_it(project: Path) -> None:
    detached = aegis(project, "workflow", "run", "stuck", "--detach")
    assert detached.returncode == 0, detached.stderr
    run_id = detached.stdout.strip()
    assert f"`aegis workflow watch {run_id}`" in detached.stderr
    assert f"`aegis workflow cancel {run_id}`" in detached.stderr
    # The daemon runs it: the records say so, whoever reads them.
    runs = json.loads(aegis(project, "workflow", "runs", "--json").stdout)
    assert [r["status"] for r in runs if r["id"] == run_id] == ["running"]
    assert f"{run_id}: stuck running" in aegis(project, "workflow", "show", run_id[:-1]).stdout

    cancelled = aegis(project, "workflow", "cancel", "last")
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == f"{run_id}: cancelled\n"
    assert run_record(project, run_id)["error"] == "cancelled"
    # It cleaned up as any run does: its session was drained and closed.
    sessions = json.loads(aegis(project, "ps", "--all", "--json").stdout)
    mine = [s for s in sessions if s["started_by"] == f"workflow:{run_id}"]
    assert [s["state"] for s in mine] == ["closed"]
    again = aegis(project, "workflow", "cancel", run_id)
    assert again.returncode == 1
    assert again.stderr.startswith(f"error: run {run_id} has ended (failed)")
    # Watching an ended run replays its log and exits with its status.
    watched = aegis(project, "workflow", "watch", run_id)
    assert watched.returncode == 1
    assert "spawned " in watched.stderr and f"cancelled: {run_id}" in watched.stderr


def test_queue_enqueue_without_wait_has_the_daemon_run_the_task(project: Path) -> None:
    queued = aegis(project, "queue", "enqueue", "work", "review this")
    assert queued.returncode == 0, queued.stderr
    task_id = queued.stdout.strip()
    assert queued.stderr.startswith(f"queued as {task_id}; the aegis daemon (pid ")
    assert f"`aegis queue show {task_id}`" in queued.stderr

    def done() -> bool:
        task = json.loads(aegis(project, "queue", "show", task_id, "--json").stdout)
        return bool(task["status"] == "done" and task["result"] == "reviewed this")

    wait_until(done, 60, "the daemon to run the task")
    waited = aegis(project, "queue", "enqueue", "work", "hello", "--wait")
    assert (waited.returncode, waited.stdout) == (0, "hi there\n")


def test_a_run_without_the_daemon_runs_only_the_queues_its_workflow_uses(
    tmp_path: Path,
) -> None:
    (tmp_path / ".aegis.py").write_text(CONFIG)

    def here(*args: str) -> subprocess.CompletedProcess[str]:
        return aegis(tmp_path, "--no-daemon", *args)

    left = {
        queue: here("queue", "enqueue", queue, "hello").stdout.strip()
        for queue in ("work", "other")
    }

    def status(task_id: str) -> str:
        return str(json.loads(here("queue", "show", task_id, "--json").stdout)["status"])

    greeted = here("workflow", "run", "greet")
    assert (greeted.returncode, greeted.stdout) == (0, "hi there\n")
    assert "[queue:" not in greeted.stderr  # nothing left queued ran inside it
    assert {status(task_id) for task_id in left.values()} == {"queued"}

    paired = here("workflow", "run", "pair", "topic=x")
    assert (paired.returncode, paired.stdout) == (0, "hi there | reviewed x\n")
    # The queue it delegates to runs, in order (the task left there was ahead of its
    # own); the other queue's task is not this run's.
    assert status(left["work"]) == "done"
    assert status(left["other"]) == "queued"
    assert daemon_pid(tmp_path) is None
    detached = here("workflow", "run", "greet", "--detach")
    assert detached.returncode == 1
    assert detached.stderr.startswith("error: --detach needs the daemon")
    assert processes_in(tmp_path) == []  # the commands above ended everything they ran


def test_an_idle_daemon_is_restarted_to_run_the_changed_config_and_a_busy_one_is_not(
    tmp_path: Path,
) -> None:
    config = tmp_path / ".aegis.py"
    config.write_text(CONFIG)
    assert aegis(tmp_path, "workflow", "run", "greet").returncode == 0
    first = daemon_pid(tmp_path)
    # A busy daemon (a run in progress) keeps the file it loaded, and says so.
    stuck = aegis(tmp_path, "workflow", "run", "stuck", "--detach").stdout.strip()
    config.write_text(CONFIG.replace('reply="hi there"', 'reply="hello again"'))
    busy = aegis(tmp_path, "workflow", "run", "greet")
    assert (busy.returncode, busy.stdout) == (0, "hi there\n")
    assert "warning: the aegis daemon (pid " in busy.stderr and "is busy" in busy.stderr
    assert daemon_pid(tmp_path) == first
    # Idle again: the next command restarts it, and runs the file as it is now.
    assert aegis(tmp_path, "workflow", "cancel", stuck).returncode == 0
    fresh = aegis(tmp_path, "workflow", "run", "greet")
    assert (fresh.returncode, fresh.stdout) == (0, "hello again\n")
    assert ".aegis.py changed: restarted the aegis daemon to load it" in fresh.stderr
    assert daemon_pid(tmp_path) not in (None, first)
    # With no daemon at all, an ended run is shown from its record.
    assert aegis(tmp_path, "daemon", "stop").returncode == 0
    watched = aegis(tmp_path, "workflow", "watch", stuck)
    assert watched.returncode == 1
    assert "spawned " in watched.stderr and f"cancelled: {stuck}" in watched.stderr


def test_run_ask_and_enqueue_on_a_daemon_running_the_file_as_it_is_leave_it_to_the_daemon(
    tmp_path: Path,
) -> None:
    # The client does not execute .aegis.py again when the daemon runs it as it is now
    # (that is a third of a second of every warm run): the daemon checks the name and
    # the arguments, and its errors come in the CLI's voice.
    root = tmp_path / "project"
    root.mkdir()
    executed = root / "executed-by"
    (root / ".aegis.py").write_text(
        f"import os\nopen({str(executed)!r}, 'a').write(f'{{os.getpid()}}\\n')\n" + CONFIG
    )
    first = aegis(root, "workflow", "run", "greet")
    assert first.returncode == 0, first.stderr
    loaders = set(executed.read_text().split())
    second = start(root, "workflow", "run", "greet")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert out.strip() == "hi there"
    assert str(second.pid) not in executed.read_text().split()
    assert set(executed.read_text().split()) == loaders  # nobody executed it again

    unknown = aegis(root, "workflow", "run", "nosuch")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: ") and "nosuch" in unknown.stderr
    assert "hint: " in unknown.stderr and "Traceback" not in unknown.stderr
    wrong = aegis(root, "workflow", "run", "greet", "extra=1")
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: "), wrong.stderr
    assert "Traceback" not in wrong.stderr

    # `aegis ask` likewise, with its message as an argument or piped: the daemon starts
    # the session and checks the profile.
    asked = start(root, "ask", "offline", "hello")
    piped = start(root, "ask", "offline", "-", stdin=subprocess.PIPE)
    assert asked.communicate(timeout=120)[0] == "hi there\n", asked.stderr
    assert piped.communicate("hello", timeout=120)[0] == "hi there\n", piped.stderr
    assert (asked.returncode, piped.returncode) == (0, 0)
    assert set(executed.read_text().split()) == loaders
    nobody = aegis(root, "ask", "nobody", "hello")
    assert nobody.returncode == 1
    assert nobody.stderr == "error: no agent profile 'nobody'\n  hint: profiles: offline\n"
    assert [row["profile"] for row in sessions(root).values()].count("nobody") == 0

    # And `aegis queue enqueue`: the daemon queues the task and checks the queue's name.
    loaders = set(executed.read_text().split())  # `aegis ps` executes the file
    queued = aegis(root, "queue", "enqueue", "work", "review this")
    assert queued.returncode == 0, queued.stderr
    task_id = queued.stdout.strip()
    assert f"queued as {task_id}; the aegis daemon (pid {daemon_pid(root)}) runs it" in (
        queued.stderr
    )
    waited = aegis(root, "queue", "enqueue", "work", "review that", "--wait")
    assert (waited.returncode, waited.stdout) == (0, "reviewed that\n"), waited.stderr
    assert set(executed.read_text().split()) == loaders
    shown = json.loads(aegis(root, "queue", "show", task_id, "--json").stdout)
    assert (shown["status"], shown["result"]) == ("done", "reviewed this")
    nowhere = aegis(root, "queue", "enqueue", "nope", "x")
    assert nowhere.returncode == 1
    assert nowhere.stderr == "error: no queue 'nope'\n  hint: queues: other, work\n"


def test_a_cold_run_starts_the_daemon_while_it_checks_the_file(tmp_path: Path) -> None:
    # With no daemon, `workflow run` starts one at once and executes .aegis.py to check
    # it meanwhile (the two starts overlap). A mistake in the file is the command's
    # error, as without the daemon; the daemon, which cannot load the file either,
    # exits as it starts, and leaves its own word on it in its log.
    config = tmp_path / ".aegis.py"
    config.write_text(CONFIG + "\nraise RuntimeError('broken on purpose')\n")
    broken = aegis(tmp_path, "workflow", "run", "greet")
    assert broken.returncode == 1, broken.stderr
    assert broken.stderr.startswith("error: ") and "broken on purpose" in broken.stderr
    assert "Traceback" not in broken.stderr
    log = tmp_path / ".aegis" / "daemon.log"
    wait_until(lambda: "broken on purpose" in log.read_text(), 30, "the daemon's error")
    wait_until(lambda: processes_in(tmp_path) == [], 30, "the daemon to exit")
    assert daemon_pid(tmp_path) is None

    config.write_text(CONFIG)
    ran = aegis(tmp_path, "workflow", "run", "greet")
    assert (ran.returncode, ran.stdout) == (0, "hi there\n"), ran.stderr
    assert daemon_pid(tmp_path) is not None
    assert aegis(tmp_path, "daemon", "stop").returncode == 0
    assert processes_in(tmp_path) == []
