"""The QueueManager's behaviour, with in-process worker sessions."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from aegis import hookimpl
from aegis.events import UserMessage
from aegis.plugins import get_host
from aegis.queue import Queue
from aegis.queue.manager import SHUTDOWN_INTERRUPTED, NotRetryable, UnknownQueue, UnknownTask
from aegis.queue.task import TaskRecord, TaskStatus
from aegis.session import SessionState
from tests.queue.fakes import WHOLE_TEXT, driver_for, running, undeliver_callbacks
from tests.session.fake_provider import FakeDriver
from tests.support.waiting import until

# Every test runs on the SQLite backend and on the PostgreSQL one (a real server).
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_workers", "queue_store")]

REVIEW = Queue("review", agent_profile="worker", max_parallel=2)
SERIAL = Queue("serial", agent_profile="worker", max_parallel=1)


def most_at_once(tasks: list[TaskRecord]) -> int:
    """The most tasks whose [started_at, finished_at] intervals overlap at one time."""
    edges = []
    for task in tasks:
        assert task.started_at is not None and task.finished_at is not None
        edges += [(task.started_at, 1), (task.finished_at, -1)]
    now = most = 0
    for _, step in sorted(edges):  # at a tie, an end (-1) sorts before a start
        now += step
        most = max(most, now)
    return most


async def test_tasks_start_in_fifo_order_and_never_more_than_max_parallel_at_once(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, REVIEW) as env:
        ids = [await env.queues.enqueue("review", f"hold {i}") for i in range(7)]
        released: list[FakeDriver] = []
        while len(released) < len(ids):
            await until(
                lambda: len([d for d in FakeDriver.instances if d.prompts]) > len(released),
                timeout=5,
            )
            holding = [d for d in FakeDriver.instances if d.prompts and d not in released]
            assert len(holding) <= REVIEW.max_parallel
            await anyio.sleep(0.03)  # leave time for a wrongful third worker to start
            holding = [d for d in FakeDriver.instances if d.prompts and d not in released]
            assert len(holding) <= REVIEW.max_parallel
            # Release the newest first, so that ends come in another order than starts.
            holding[-1].release.set()
            released.append(holding[-1])
        tasks = [await env.queues.wait(task_id, timeout=5) for task_id in ids]
    assert [t.status for t in tasks] == [TaskStatus.done] * len(ids)
    assert most_at_once(tasks) == REVIEW.max_parallel
    by_start = sorted(tasks, key=lambda t: t.started_at or 0)
    assert [t.id for t in by_start] == ids == sorted(ids)
    assert [d.prompts[0] for d in FakeDriver.instances] == [f"hold {i}" for i in range(7)]


async def test_a_task_records_the_whole_final_text_of_the_turn_and_its_usage(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, REVIEW) as env:
        task_id = await env.queues.enqueue("review", "chunks please")
        task = await env.queues.wait(task_id, timeout=5)
        handle = task.worker_handle or ""
        await until(lambda: env.sessions.get(handle).state is SessionState.closed, timeout=5)
        worker = env.sessions.get(handle)
    assert task.status is TaskStatus.done and task.error is None
    assert task.result == WHOLE_TEXT
    assert task.usage is not None and (task.usage.input_tokens, task.usage.output_tokens) == (
        100,
        20,
    )
    assert task.usage.cache_read_tokens == 60 and task.usage.cost_usd == pytest.approx(0.5)
    assert task.created_at <= (task.started_at or 0) <= (task.finished_at or 0)
    assert task.owner == env.queues.owner
    assert worker.profile == "worker" and worker.state is SessionState.closed


async def test_a_worker_that_dies_fails_its_task_with_the_reason_and_the_callback_says_so(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, REVIEW) as env:
        boss = await env.sessions.spawn("boss")
        with env.sessions.subscribe(boss) as events:
            task_id = await env.queues.enqueue(
                "review", "die now", sender=f"agent:{boss}", callback=True
            )
            task = await env.queues.wait(task_id, timeout=5)
            with anyio.fail_after(5):
                message = None
                async for _, event in events:
                    if isinstance(event, UserMessage):
                        message = event
                        break
    assert task.status is TaskStatus.failed
    assert task.error == "the fake CLI died"
    assert message is not None and message.sender == "queue:review"
    assert task_id in message.text and "failed" in message.text
    assert "the fake CLI died" in message.text


async def test_the_callback_reaches_the_agent_exactly_once_even_when_the_outbox_redelivers(
    tmp_path: Path,
) -> None:
    # The crash is played by an UPDATE that wakes nobody: the outbox is read again at the
    # safety poll (a restarted process reads it as it starts).
    async with running(tmp_path, REVIEW, safety_poll=0.1) as env:
        boss = await env.sessions.spawn("boss")
        boss_driver = FakeDriver.instances[-1]
        with env.sessions.subscribe(boss) as events:
            task_id = await env.queues.enqueue(
                "review", "chunks", sender=f"agent:{boss}", callback=True
            )
            await env.queues.wait(task_id, timeout=5)
            await until(lambda: len(boss_driver.prompts) == 1, timeout=5)
            # Marked delivered (in a worker thread, after the delivery): un-marking it
            # before would be undone by that mark.
            await until(lambda: not env.backend.pending_callbacks(), timeout=5)
            # A crash between delivering and marking delivered: the outbox sends it again.
            undeliver_callbacks(env.backend)
            assert [t.id for t in env.backend.pending_callbacks()] == [task_id]
            await until(lambda: not env.backend.pending_callbacks(), timeout=5)
            await env.sessions.drain(boss, timeout=5)
        messages = [event async for _, event in events if isinstance(event, UserMessage)]
    assert len(boss_driver.prompts) == 1 and len(messages) == 1
    assert messages[0].sender == "queue:review"
    text = messages[0].text
    assert task_id in text and "ok" in text and WHOLE_TEXT in text


async def test_no_callback_unless_asked_for(tmp_path: Path) -> None:
    async with running(tmp_path, REVIEW) as env:
        boss = await env.sessions.spawn("boss")
        boss_driver = FakeDriver.instances[-1]
        task_id = await env.queues.enqueue("review", "quiet", sender=f"agent:{boss}")
        await env.queues.wait(task_id, timeout=5)
        await anyio.sleep(0.1)
    assert boss_driver.prompts == []


async def test_cancelling_a_queued_task_means_it_never_runs(tmp_path: Path) -> None:
    async with running(tmp_path, SERIAL) as env:
        first = await env.queues.enqueue("serial", "hold first")
        second = await env.queues.enqueue("serial", "second")
        await until(lambda: driver_for("hold first") is not None, timeout=5)
        cancelled = await env.queues.cancel(second)
        driver = driver_for("hold first")
        assert driver is not None
        driver.release.set()
        done = await env.queues.wait(first, timeout=5)
        await anyio.sleep(0.1)
    assert cancelled.status is TaskStatus.cancelled and cancelled.started_at is None
    assert done.status is TaskStatus.done
    assert driver_for("second") is None


async def test_cancelling_a_running_task_stops_and_closes_its_worker(tmp_path: Path) -> None:
    async with running(tmp_path, REVIEW) as env:
        boss = await env.sessions.spawn("boss")
        boss_driver = FakeDriver.instances[-1]
        task_id = await env.queues.enqueue(
            "review", "hold on", sender=f"agent:{boss}", callback=True
        )
        await until(lambda: driver_for("hold on") is not None, timeout=5)
        worker = driver_for("hold on")
        cancelled = await env.queues.cancel(task_id)
        handle = cancelled.worker_handle or ""
        assert worker is not None and worker.exited
        assert env.sessions.get(handle).state is SessionState.closed
        await until(lambda: len(boss_driver.prompts) == 1, timeout=5)
        again = await env.queues.cancel(task_id)  # cancelling an ended task changes nothing
    assert cancelled.status is TaskStatus.cancelled and cancelled.error == "cancelled"
    assert again == cancelled
    assert task_id in boss_driver.prompts[0] and "cancelled" in boss_driver.prompts[0]


async def test_a_task_cancelled_by_another_process_is_stopped_by_the_one_running_it(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, REVIEW) as env:
        task_id = await env.queues.enqueue("review", "hold tight")
        await until(lambda: driver_for("hold tight") is not None, timeout=5)
        # Another aegis process (here: a second, non-dispatching manager) cancels it.
        async with running(tmp_path, REVIEW, dispatch=False) as other:
            assert (await other.queues.cancel(task_id)).status is TaskStatus.cancelled
        worker = driver_for("hold tight")
        assert worker is not None
        await until(lambda: worker.exited, timeout=3)
        task = await env.queues.get(task_id)
    assert task is not None and task.status is TaskStatus.cancelled


async def test_retry_enqueues_a_new_attempt_of_a_failed_task(tmp_path: Path) -> None:
    async with running(tmp_path, REVIEW) as env:
        first = await env.queues.enqueue("review", "die please", sender="workflow:run-1")
        failed = await env.queues.wait(first, timeout=5)
        second = await env.queues.retry(first)
        retried = await env.queues.wait(second, timeout=5)
        fine = await env.queues.wait(await env.queues.enqueue("review", "fine"), timeout=5)
        with pytest.raises(NotRetryable, match="only failed or cancelled"):
            await env.queues.retry(fine.id)
    assert failed.status is TaskStatus.failed
    assert second > first
    assert retried.retry_of == first and retried.attempt == 2
    assert (retried.queue, retried.payload, retried.sender) == (
        "review",
        "die please",
        "workflow:run-1",
    )
    assert len(FakeDriver.instances) >= 2  # it ran again, on a fresh worker


async def test_retry_refuses_a_task_that_has_not_ended(tmp_path: Path) -> None:
    async with running(tmp_path, REVIEW, dispatch=False) as env:
        task_id = await env.queues.enqueue("review", "waiting")
        with pytest.raises(NotRetryable):
            await env.queues.retry(task_id)
        with pytest.raises(UnknownTask):
            await env.queues.retry("nope")


async def test_an_unknown_queue_is_an_error_naming_the_queues(tmp_path: Path) -> None:
    async with running(tmp_path, REVIEW, SERIAL, dispatch=False) as env:
        with pytest.raises(UnknownQueue, match=r"'revue'.*review, serial"):
            await env.queues.enqueue("revue", "x")
        assert await env.queues.counts() == {}


async def test_wait_times_out_on_a_task_that_does_not_end(tmp_path: Path) -> None:
    async with running(tmp_path, REVIEW, dispatch=False) as env:
        task_id = await env.queues.enqueue("review", "never dispatched")
        with pytest.raises(TimeoutError):
            await env.queues.wait(task_id, timeout=0.1)


async def test_stopping_interrupts_running_tasks_and_keeps_queued_ones_for_the_next_run(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, SERIAL, shutdown_grace=0.2) as env:
        boss = await env.sessions.spawn("boss")
        running_id = await env.queues.enqueue(
            "serial", "hold forever", sender=f"agent:{boss}", callback=True
        )
        queued_id = await env.queues.enqueue("serial", "later")
        await until(lambda: driver_for("hold forever") is not None, timeout=5)
        boss_driver = FakeDriver.instances[0]
    shutdown = SHUTDOWN_INTERRUPTED.format(grace=0.2)
    assert boss_driver.prompts and shutdown in boss_driver.prompts[0]
    async with running(tmp_path, SERIAL, dispatch=False) as env:
        interrupted = await env.queues.get(running_id)
        queued = await env.queues.get(queued_id)
    assert interrupted is not None and interrupted.status is TaskStatus.failed
    assert interrupted.error == shutdown
    assert queued is not None and queued.status is TaskStatus.queued
    async with running(tmp_path, SERIAL) as env:  # the next run
        later = await env.queues.wait(queued_id, timeout=5)
        retry_id = await env.queues.retry(running_id)
        await until(
            lambda: len([d for d in FakeDriver.instances if d.prompts == ["hold forever"]]) == 2,
            timeout=5,
        )
        FakeDriver.instances[-1].release.set()
        again = await env.queues.wait(retry_id, timeout=5)
    assert later.status is TaskStatus.done and later.result == "reply: later"
    assert again.status is TaskStatus.done and again.retry_of == running_id


class Observer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, TaskStatus]] = []

    @hookimpl
    def task_enqueued(self, task: TaskRecord) -> None:
        self.calls.append(("enqueued", task.id, task.status))

    @hookimpl
    def task_started(self, task: TaskRecord) -> None:
        self.calls.append(("started", task.id, task.status))
        raise RuntimeError("a broken observer")

    @hookimpl
    def task_finished(self, task: TaskRecord) -> None:
        self.calls.append(("finished", task.id, task.status))


async def test_observer_hooks_see_each_step_and_a_broken_one_breaks_nothing(
    tmp_path: Path,
) -> None:
    observer = Observer()
    get_host().register(observer, "observer")
    try:
        async with running(tmp_path, REVIEW) as env:
            task_id = await env.queues.enqueue("review", "watched")
            task = await env.queues.wait(task_id, timeout=5)
    finally:
        get_host().unregister(observer)
    assert task.status is TaskStatus.done
    assert observer.calls == [
        ("enqueued", task_id, TaskStatus.queued),
        ("started", task_id, TaskStatus.running),
        ("finished", task_id, TaskStatus.done),
    ]


async def test_list_tasks_and_counts(tmp_path: Path) -> None:
    async with running(tmp_path, REVIEW, SERIAL, dispatch=False) as env:
        a = await env.queues.enqueue("review", "a")
        b = await env.queues.enqueue("serial", "b")
        c = await env.queues.enqueue("review", "c")
        await env.queues.cancel(c)
        assert [t.id for t in await env.queues.list_tasks()] == [a, b, c]
        assert [t.id for t in await env.queues.list_tasks(queue="review")] == [a, c]
        assert [t.id for t in await env.queues.list_tasks(status="queued")] == [a, b]
        assert [t.id for t in await env.queues.list_tasks(limit=2)] == [b, c]
        assert await env.queues.counts() == {
            "review": {"queued": 1, "cancelled": 1},
            "serial": {"queued": 1},
        }
        task = await env.queues.get(a)
    assert task is not None and task.as_dict()["status"] == "queued"
    assert TaskRecord.from_dict(task.as_dict()) == task  # the form the daemon's clients read
