"""The recorder's attribution: a worker's turns count for its queue, task and the run that
delegated the task; a helper an agent spawned counts for what its owner counts for."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.events import StopReason, TurnEnd, Usage
from aegis.queue.task import TaskRecord
from aegis.session.info import SessionInfo, SessionState
from aegis.usage.ledger import UsageLedger
from aegis.usage.recorder import UsageRecorder

pytestmark = pytest.mark.anyio


def info(handle: str) -> SessionInfo:
    return SessionInfo(handle, "main", "scripted", SessionState.ready, None)


async def test_workers_and_helpers_count_for_the_queue_task_and_run_they_work_for(
    tmp_path: Path,
) -> None:
    owners = {"helper": "worker", "helpers-helper": "helper", "stray": "nobody"}
    async with UsageRecorder(tmp_path) as recorder:
        recorder.owner_of = owners.get
        task = TaskRecord(id="t1", queue="review", payload="p", sender="workflow:run-1")
        recorder.task_started(task, "worker")
        for handle in ("worker", "helper", "helpers-helper", "stray"):
            recorder.on_turn(info(handle), TurnEnd(StopReason.end_turn, usage=Usage(10, 2)))
        await recorder.flush()
    ledger = UsageLedger.for_state_dir(tmp_path)
    try:
        turns = {t.session: (t.queue, t.task, t.run) for t in ledger.turns()}
        total = ledger.spent(run="run-1")
    finally:
        ledger.close()
    assert turns == {
        "worker": ("review", "t1", "run-1"),
        "helper": ("review", "t1", "run-1"),
        "helpers-helper": ("review", "t1", "run-1"),
        "stray": (None, None, None),
    }
    assert (total.turns, total.input_tokens, total.output_tokens) == (3, 30, 6)
