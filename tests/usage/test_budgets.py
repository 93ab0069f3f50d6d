"""Budgets and usage on a real runtime, with the offline scripted agent (a real ACP agent
process) reporting a deterministic cost per turn: $0.25 for each message with ``task``.

A queue stops at its ceiling with tasks left queued and the reason visible (in the
runtime, in ``aegis queue list`` and ``show``, and in a ``budget_reached``
notification); a workflow run fails with ``WorkflowBudgetExceeded`` at its ceiling;
the provider cap keeps queue workers of one provider to its number across queues;
and ``aegis usage`` totals equal the sum of the turns in the sessions' transcripts.
The tests run in order on one project, each building on what the ones before spent.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis import hookimpl
from aegis.config.loader import load_project
from aegis.notify import Notification
from aegis.plugins import PluginHost, reset_plugins
from aegis.queue.task import TaskStatus
from aegis.runtime import Runtime
from aegis.session.transcript import read_records
from aegis.usage.ledger import UsageLedger
from aegis.workflow.runner import RunStatus
from tests.fixtures.fakes import aegis_in
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis.usage import Budget, Limits
from aegis.workflow import workflow

agents = {
    "offline": Agent(provider=Scripted(rules=[
        ScriptRule(match="^slow task", reply="done slowly", delay=0.3, cost_usd=0.25),
        ScriptRule(match="task", reply="done it", cost_usd=0.25),
    ])),
}
default_agent = "offline"
queues = [
    Queue("capped", agent_profile="offline", max_parallel=1, budget=Budget(usd=0.5)),
    Queue("free", agent_profile="offline", max_parallel=2),
    Queue("other", agent_profile="offline", max_parallel=2),
]
limits = Limits(workflow_run=Budget(usd=0.5), daily=Budget(usd=100), providers={"offline": 1})


@workflow
async def spend(engine) -> str:
    handle = await engine.spawn("offline")
    await engine.ask(handle, "task one")
    await engine.delegate("free", "task two")
    await engine.ask(handle, "task three")  # over budget: never sent
    return "spent it all"
"""


class Notified:
    def __init__(self) -> None:
        self.got: list[Notification] = []

    @hookimpl
    def notify(self, notification: Notification) -> None:
        self.got.append(notification)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def notified() -> Iterator[Notified]:
    host = PluginHost()
    host.load(set())
    plugin = Notified()
    host.register(plugin, "test-notified")
    reset_plugins(host)
    yield plugin
    reset_plugins()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("budgets")
    (root / ".aegis.py").write_text(CONFIG)
    return root


def aegis(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return aegis_in(project, "--no-daemon", *args, timeout=120)


async def test_a_queue_stops_at_its_budget_with_tasks_left_queued_and_the_reason_visible(
    project: Path, notified: Notified
) -> None:
    async with Runtime(load_project([project / ".aegis.py"])) as runtime:
        queues = runtime.queues
        ids = [await queues.enqueue("capped", f"task {n}") for n in range(4)]

        async def statuses() -> list[TaskStatus]:
            return [task.status for task in await queues.list_tasks("capped", limit=None)]

        seen: list[TaskStatus] = []

        async def settled() -> None:
            while "capped" not in queues.held or TaskStatus.running in seen:
                await anyio.sleep(0.05)
                seen[:] = await statuses()

        with anyio.fail_after(60):
            await settled()
        # Two tasks at $0.25 reach the $0.50 ceiling: the other two wait, and stay.
        assert seen == [TaskStatus.done] * 2 + [TaskStatus.queued] * 2
        assert "queue capped's budget is reached ($0.50 of $0.50 today" in queues.held["capped"]
        await until(lambda: any(n.kind == "budget_reached" for n in notified.got), timeout=60)
    reached = [n for n in notified.got if n.kind == "budget_reached"]
    assert len(reached) == 1
    assert "capped" in reached[0].body and reached[0].project == str(project)

    listed = aegis(project, "queue", "list")
    assert listed.returncode == 0, listed.stderr
    assert "capped: held, its tasks stay queued: queue capped's budget is reached" in listed.stdout
    shown = aegis(project, "queue", "show", ids[-1])
    assert "held: queue capped's budget is reached" in shown.stdout


async def test_a_workflow_run_fails_when_its_budget_is_reached(project: Path) -> None:
    async with Runtime(load_project([project / ".aegis.py"])) as runtime:
        record = await runtime.workflows.run("spend")
    assert record.status is RunStatus.failed
    assert record.error is not None
    assert record.error.startswith(f"the budget of workflow run {record.id} is reached ($0.50")
    ledger = UsageLedger.for_state_dir(project / ".aegis")
    try:
        turns = [turn for turn in ledger.turns() if turn.run == record.id]
    finally:
        ledger.close()
    # Its own session's turn and the delegated worker's; the third ask never went out.
    assert [(t.queue, t.usage.cost_usd) for t in turns] == [(None, 0.25), ("free", 0.25)]
    assert turns[1].task is not None


async def test_the_provider_cap_keeps_queue_workers_to_its_number_across_queues(
    project: Path,
) -> None:
    async with Runtime(load_project([project / ".aegis.py"])) as runtime:
        queues = runtime.queues
        ids = [await queues.enqueue(q, f"slow task {q}") for q in ("free", "other") * 2]
        ended = [await queues.wait(task_id, timeout=60) for task_id in ids]
    assert [t.status for t in ended] == [TaskStatus.done] * 4
    # max_parallel=2 on each queue, but one "scripted" worker at a time in all: no overlap.
    spans = sorted((t.started_at or 0.0, t.finished_at or 0.0) for t in ended)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


def test_usage_totals_equal_the_sum_of_the_turns_in_the_transcripts(project: Path) -> None:
    sums: dict[str, list[float]] = {}
    for transcript in (project / ".aegis" / "sessions").glob("*/transcript.jsonl"):
        for record in read_records(transcript):
            if record["type"] == "turn_end":
                usage = record["usage"] or {}
                row = sums.setdefault(transcript.parent.name, [0, 0, 0, 0.0])
                row[0] += 1
                row[1] += usage.get("input_tokens", 0)
                row[2] += usage.get("output_tokens", 0)
                row[3] += usage.get("cost_usd") or 0.0
    done = aegis(project, "usage", "--by", "session", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_session = {
        g["key"]: [g["turns"], g["input_tokens"], g["output_tokens"], g["cost_usd"]]
        for g in report["groups"]
    }
    assert by_session == sums
    total = report["total"]
    assert total["turns"] == sum(row[0] for row in sums.values()) == 2 + 2 + 4
    assert total["cost_usd"] == pytest.approx(sum(row[3] for row in sums.values())) == 2.0
    per_queue = json.loads(aegis(project, "usage", "--by", "queue", "--json").stdout)["groups"]
    assert {g["key"]: g["turns"] for g in per_queue} == {
        "capped": 2,
        "free": 3,
        "other": 2,
        None: 1,
    }
    budgets = {(b["scope"], b["name"]): b for b in report["budgets"]}
    capped = budgets[("queue", "capped")]
    assert capped["spent"]["cost_usd"] == 0.5 and "capped" in capped["reached"]
    assert budgets[("daily", None)]["reached"] is None
    assert report["provider_limits"] == {"offline": 1}


async def test_the_daemon_holds_the_queue_over_budget_and_reports_usage_to_the_tui(
    project: Path,
) -> None:
    from aegis.daemon.client import DaemonClient
    from aegis_tui.widgets.queue_strip import strip_text

    started = aegis_in(project, "daemon", "start", timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        client = DaemonClient(project / ".aegis", name="test")
        with anyio.fail_after(30):
            while "capped" not in await client.held_queues():  # its dispatcher's first look
                await anyio.sleep(0.05)
        report = await client.usage(by="queue", since="today")
        counts = await client.queues()
    finally:
        stopped = aegis_in(project, "daemon", "stop", timeout=60)
        assert stopped.returncode == 0, stopped.stderr
    assert counts["capped"].get("queued") == 2  # still queued: the daemon started none
    assert "queue capped's budget is reached" in report["held"]["capped"]
    assert report["total"]["turns"] == 8 and report["total"]["cost_usd"] == 2.0
    assert {g["key"]: g["turns"] for g in report["groups"]}["capped"] == 2
    line = strip_text(["capped", "free"], counts, report).plain
    tokens = report["total"]["tokens"]
    assert line.startswith(f" today $2.00 {tokens} tok │ capped:")
    assert "failed held │ free:" in line
