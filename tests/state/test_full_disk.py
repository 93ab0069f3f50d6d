"""A full disk: a change is refused with one line, and a finished task's result is not lost."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest

from aegis.inbox import InboxRouter
from aegis.queue import Queue
from aegis.queue.manager import QueueManager
from aegis.queue.sqlite_backend import SqliteQueueBackend
from aegis.queue.task import TaskStatus
from aegis.session import SessionManager
from tests.fixtures.disk import fill
from tests.queue.fakes import AGENTS, POLL, driver_for, fake_workers
from tests.state.conftest import CONFIG, aegis
from tests.support.waiting import until

__all__ = ["fake_workers"]

pytestmark = pytest.mark.anyio


def test_enqueue_on_a_full_disk_says_so_in_one_line_and_enqueues_nothing(small_disk: Path) -> None:
    (small_disk / ".aegis.py").write_text(CONFIG)
    first = aegis(small_disk, "queue", "enqueue", "work", "hello")
    assert first.returncode == 0, first.stderr
    filler = fill(small_disk)

    refused = aegis(small_disk, "queue", "enqueue", "work", "big " + "y" * 50_000)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr, refused.stderr
    head, *rest = refused.stderr.strip().splitlines()
    assert head.startswith("error: no space left on the disk holding ")
    assert "queue.db" in head
    assert any(line.strip().startswith("hint: free some space") for line in rest)

    filler.unlink()
    listed = aegis(small_disk, "queue", "tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count('"payload"') == 1  # the refused one was not half-written


def test_ask_on_a_full_disk_says_so_in_one_line(small_disk: Path) -> None:
    (small_disk / ".aegis.py").write_text(CONFIG)
    first = aegis(small_disk, "ask", "offline", "hello")
    assert first.returncode == 0, first.stderr
    fill(small_disk)

    refused = aegis(small_disk, "ask", "offline", "hello")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr, refused.stderr
    head, *rest = refused.stderr.strip().splitlines()
    assert head.startswith("error: no space left on the disk holding "), refused.stderr
    assert any(line.strip().startswith("hint: free some space") for line in rest)


async def test_a_task_ending_on_a_full_disk_keeps_its_result_until_space_returns(
    small_disk: Path, tmp_path: Path, fake_workers: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Only the queue database is on the small disk: what a full disk does to the
    # sessions' own files (transcripts, metadata) is not what this test is about.
    backend = SqliteQueueBackend(small_disk / "queue.db")
    work = Queue("work", agent_profile="worker", max_parallel=1)
    async with (
        SessionManager(AGENTS, root=tmp_path) as sessions,
        InboxRouter(sessions, sessions.state_dir, poll_interval=POLL) as inbox,
        QueueManager(
            {"work": work},
            backend=backend,
            sessions=sessions,
            inbox_router=inbox,
            poll_interval=POLL,
        ) as queues,
    ):
        task_id = await queues.enqueue("work", "hold then answer")
        await until(lambda: driver_for("hold then answer") is not None, timeout=5)
        second = await queues.enqueue("work", "hold as well")
        filler = fill(small_disk)
        try:
            with caplog.at_level(logging.WARNING, logger="aegis.queue"):
                driver = driver_for("hold then answer")
                assert driver is not None
                driver.release.set()
                await until(lambda: "cannot save the end of task" in caplog.text, timeout=30)
                # Not recorded yet, and still holding its place: max_parallel is kept.
                assert task_id in queues._running
                await anyio.sleep(POLL * 10)
                assert driver_for("hold as well") is None
        finally:
            filler.unlink()  # space returns (also when the test failed: the exit needs it)
        ended = await queues.wait(task_id, timeout=60)
        assert ended.status is TaskStatus.done
        assert ended.result == "reply: hold then answer"
        await until(lambda: driver_for("hold as well") is not None, timeout=30)
        later = driver_for("hold as well")
        assert later is not None
        later.release.set()
        assert (await queues.wait(second, timeout=60)).status is TaskStatus.done
    backend.close()


async def test_a_queue_that_cannot_take_tasks_on_a_full_disk_says_so_once_then_resumes(
    small_disk: Path, tmp_path: Path, fake_workers: None, caplog: pytest.LogCaptureFixture
) -> None:
    backend = SqliteQueueBackend(small_disk / "queue.db")
    task = backend.add("work", "hello")
    filler = fill(small_disk)
    work = Queue("work", agent_profile="worker", max_parallel=1)
    try:
        with caplog.at_level(logging.INFO, logger="aegis.queue"):
            async with (
                SessionManager(AGENTS, root=tmp_path) as sessions,
                InboxRouter(sessions, sessions.state_dir, poll_interval=POLL) as inbox,
                QueueManager(
                    {"work": work},
                    backend=backend,
                    sessions=sessions,
                    inbox_router=inbox,
                    poll_interval=POLL,
                ) as queues,
            ):
                await until(lambda: "cannot take tasks" in caplog.text, timeout=30)
                await anyio.sleep(POLL * 30)  # thirty more polls, each meeting the full disk
                reports = [r for r in caplog.records if "cannot take tasks" in r.getMessage()]
                assert len(reports) == 1
                assert "no space left" in reports[0].getMessage()
                assert reports[0].exc_info is None  # a line, not a traceback every poll
                assert "could not claim" not in caplog.text

                filler.unlink()
                ended = await queues.wait(task.id, timeout=60)
                assert ended.status is TaskStatus.done
                assert "queue work takes tasks again" in caplog.text
    finally:
        filler.unlink(missing_ok=True)
        backend.close()
