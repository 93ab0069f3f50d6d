"""The notifier: every plugin's ``notify`` hook gets each notification, off the caller's path.

A hook that hangs or raises costs only its own delivery: the others still get theirs,
``send`` returns at once, and the runtime stops in time with a hook still hanging.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from aegis import hookimpl
from aegis.notify import Notification, Notifier
from aegis.plugins import PluginHost
from tests.support.waiting import until

pytestmark = pytest.mark.anyio


class Recorder:
    """A plugin whose plain ``notify`` hook records what it got."""

    def __init__(self) -> None:
        self.got: list[Notification] = []

    @hookimpl
    def notify(self, notification: Notification) -> None:
        self.got.append(notification)


class AsyncRecorder:
    """A plugin whose ``async`` hook records what it got, on the event loop."""

    def __init__(self) -> None:
        self.got: list[Notification] = []

    @hookimpl
    async def notify(self, notification: Notification) -> None:
        await anyio.lowlevel.checkpoint()
        self.got.append(notification)


class Hanger:
    """A plugin whose hook blocks its thread until the test lets it go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    @hookimpl
    def notify(self) -> None:
        self.entered.set()
        self.release.wait()


class Raiser:
    @hookimpl
    def notify(self, notification: Notification) -> None:
        raise RuntimeError(f"cannot deliver {notification.kind}")


def failed(title: str) -> Notification:
    return Notification(kind="task_failed", title=title)


async def test_a_hanging_or_failing_hook_stalls_nothing(
    host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hanger, raiser, recorder, async_recorder = Hanger(), Raiser(), Recorder(), AsyncRecorder()
    for name, plugin in [("hanger", hanger), ("raiser", raiser), ("recorder", recorder)]:
        host.register(plugin, name)
    host.register(async_recorder, "async-recorder")
    notifier = Notifier(str(tmp_path), plugin_deadline=0.5, shutdown_grace=1.0)
    try:
        async with notifier:
            notifier.send(failed("first"))
            notifier.send(failed("second"))
            # The hanger holds its thread; the others got both notifications meanwhile.
            await until(lambda: len(recorder.got) == 2 and len(async_recorder.got) == 2)
            assert hanger.entered.is_set()
            assert [n.title for n in recorder.got] == ["first", "second"]
            assert {n.project for n in async_recorder.got} == {str(tmp_path)}
            # Once past its deadline, the hanger's deliveries count as failed.
            await until(lambda: notifier.failed == 4)
        assert notifier.delivered == 4
    finally:
        hanger.release.set()
    messages = [r.getMessage() for r in caplog.records if r.name == "aegis.notify"]
    assert (
        sum("to plugin 'raiser': RuntimeError: cannot deliver task_failed" in m for m in messages)
        == 2
    )
    assert sum("to plugin 'hanger': TimeoutError" in m for m in messages) == 2


async def test_a_hook_that_always_hangs_is_skipped_once_it_holds_enough_threads(
    host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hanger = Hanger()
    host.register(hanger, "hanger")
    try:
        async with Notifier(str(tmp_path), plugin_deadline=0.2) as notifier:
            for n in range(6):
                notifier.send(failed(f"n{n}"))
            await until(lambda: notifier.failed == 6)
    finally:
        hanger.release.set()
    skipped = [r for r in caplog.records if "earlier calls still hang" in r.getMessage()]
    assert len(skipped) == 2
    assert threading.active_count() < 20


async def test_send_outside_the_lifespan_drops_and_never_raises(
    host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    host.register(recorder, "recorder")
    notifier = Notifier(str(tmp_path))
    caplog.set_level(logging.INFO, "aegis.notify")
    notifier.send(failed("too early"))
    async with notifier:
        pass
    notifier.send(failed("too late"))
    assert recorder.got == []
    assert notifier.dropped == 2


async def test_send_while_a_signal_cancels_everything_drops_it_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # SIGHUP cancels the runtime whole: the notifier's dispatcher ends with the rest while
    # a cancelled workflow run, ending, still says it finished.
    notifier = Notifier(str(tmp_path))
    caplog.set_level(logging.INFO, "aegis.notify")
    with anyio.CancelScope() as everything:
        async with notifier:
            everything.cancel()
            try:
                await anyio.sleep(5)
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.sleep(0.05)  # the dispatcher is cancelled meanwhile
                    notifier.send(failed("as it stops"))
    assert "could not send a notification" not in caplog.text
    assert "Traceback" not in caplog.text and notifier.dropped == 1


async def test_followers_get_each_notification_sent_while_they_follow(
    host: PluginHost, tmp_path: Path
) -> None:
    async with Notifier(str(tmp_path)) as notifier:
        notifier.send(failed("before"))
        async with notifier.subscribe() as follower:
            notifier.send(failed("during"))
            number, got = await follower.receive()
        notifier.send(failed("after"))
        assert (number, got.title) == (2, "during")
        assert [(n, x.title) for n, x in notifier.numbered] == [
            (1, "before"),
            (2, "during"),
            (3, "after"),
        ]


def test_the_webhook_body_carries_its_version() -> None:
    body = Notification(
        kind="workflow_finished", title="run r1 ok", run_id="r1", outcome="ok"
    ).payload()
    assert body["version"] == 1
    assert (body["kind"], body["run_id"], body["outcome"], body["session"]) == (
        "workflow_finished",
        "r1",
        "ok",
        None,
    )


async def test_send_from_a_worker_thread_reaches_the_plugins(
    host: PluginHost, tmp_path: Path
) -> None:
    recorder = Recorder()
    host.register(recorder, "recorder")
    async with Notifier(str(tmp_path)) as notifier:
        await anyio.to_thread.run_sync(notifier.send, failed("from a thread"))
        await until(lambda: len(recorder.got) == 1)
    assert recorder.got[0].title == "from a thread"


async def test_a_channel_that_hangs_for_long_does_not_hold_up_the_others(
    host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hanger, recorder = Hanger(), Recorder()
    host.register(hanger, "hanger")
    host.register(recorder, "recorder")
    notifier = Notifier(str(tmp_path), plugin_deadline=60, shutdown_grace=0.5)
    try:
        async with notifier:
            for n in range(40):
                notifier.send(failed(f"n{n}"))
            await until(lambda: len(recorder.got) == 40)
            assert notifier.failed == 0  # the hanger's calls all still hang
    finally:
        hanger.release.set()
    assert any("abandoned" in r.getMessage() for r in caplog.records)
