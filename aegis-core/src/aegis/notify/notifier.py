"""The notifier: hands each notification to every channel, off the caller's path.

``notifier.send(notification)`` returns at once and never raises. The notification
waits in a bounded backlog; a dispatcher owned by the notifier's lifespan (the
runtime's) hands it to each channel: the channels the project configured
(``notifications = [...]`` in ``.aegis.py``), each plugin's ``notify`` hook, and the
clients that follow ``GET /v1/notifications`` (the TUI rings its bell).

A channel that hangs or raises holds up only itself: each channel has its own lane (a
bounded backlog and :data:`LANE_WORKERS` workers), and each delivery runs under a
deadline; a plugin's plain (not ``async``) hook runs in a daemon thread the notifier
walks away from when it hangs. When a backlog is full (a channel stuck for long), new
notifications are dropped for it with a warning rather than waited for.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.lowlevel import EventLoopToken
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from aegis.lifespan import Lifespan
from aegis.notify.model import Notification
from aegis.notify.threads import call_in_daemon_thread

if TYPE_CHECKING:
    from aegis.plugins import PluginHost

log = logging.getLogger("aegis.notify")

BACKLOG = 256
"""Notifications waiting for the dispatcher at most; more are dropped."""
LANE_WORKERS = 4
"""Deliveries to one channel under way at once at most."""
LANE_BACKLOG = 64
"""Notifications waiting for one channel at most; more are dropped for it."""
PLUGIN_DEADLINE = 10.0
"""Seconds a plugin's ``notify`` hook may take before the notifier walks away from it."""
MAX_STUCK_CALLS = 4
"""Calls of one plugin's hook still running in their threads past which it is skipped."""
SHUTDOWN_GRACE = 5.0
"""Seconds the deliveries under way (and queued) get when the runtime stops."""
RECENT = 50
"""Notifications kept in memory for ``GET /v1/notifications``."""
SUBSCRIBER_BUFFER = 64


class Channel(Protocol):
    """Where notifications go: a webhook, the desktop, a plugin's hook."""

    name: str
    """What log lines call it."""
    deadline: float
    """Seconds one delivery may take in all (retries included) before it is given up."""
    kinds: frozenset[str] | None
    """The kinds of notification it wants (``None``: all)."""

    async def deliver(self, notification: Notification) -> None:
        """Deliver ``notification``; raise on failure (the notifier logs it)."""
        ...


class Notifier(Lifespan):
    """Delivers notifications to the project's channels, the plugins and the followers.

    ``project`` fills in the ``project`` field of notifications sent without one.
    ``channels``: the configured channels. ``host``: where the plugins' ``notify`` hooks
    are found (default: the process's plugin host, asked at each delivery).
    """

    def __init__(
        self,
        project: str,
        channels: Sequence[Channel] = (),
        *,
        host: Callable[[], PluginHost] | None = None,
        backlog: int = BACKLOG,
        plugin_deadline: float = PLUGIN_DEADLINE,
        shutdown_grace: float = SHUTDOWN_GRACE,
    ) -> None:
        self.project = project
        self.channels = list(channels)
        self._host = host
        self.backlog = backlog
        self.plugin_deadline = plugin_deadline
        self.shutdown_grace = shutdown_grace
        self.numbered: deque[tuple[int, Notification]] = deque(maxlen=RECENT)
        """The last notifications sent, numbered from 1 in the order sent, oldest first."""
        self.sent = 0
        """Notifications sent while the notifier ran: the number of the last one."""
        self.delivered = 0
        """Deliveries that succeeded (one per channel and notification)."""
        self.failed = 0
        """Deliveries that raised or ran out of time."""
        self.dropped = 0
        """Notifications dropped because the backlog was full or the notifier not running."""
        self._queue: MemoryObjectSendStream[Notification] | None = None
        self._subscribers: set[MemoryObjectSendStream[tuple[int, Notification]]] = set()
        self._running_calls: dict[str, int] = {}
        self._calls_lock = threading.Lock()
        self._loop_thread: int | None = None
        self._token: EventLoopToken | None = None

    # --- the caller's side --------------------------------------------------------------

    def send(self, notification: Notification) -> None:
        """Queue ``notification`` for every channel; returns at once, never raises.

        From another thread (a worker thread of ``anyio.to_thread``), it waits for the
        event loop to take the notification. Before the notifier runs, or after it
        stopped, the notification is only logged.
        """
        try:
            if self._loop_thread is not None and threading.get_ident() != self._loop_thread:
                anyio.from_thread.run_sync(self.send, notification, token=self._token)
                return
            if not notification.project:
                notification = notification.model_copy(update={"project": self.project})
            if self._queue is None:
                self.dropped += 1
                log.info(
                    "notification not sent (the notifier is not running): %s", notification.title
                )
                return
            self.sent += 1
            self.numbered.append((self.sent, notification))
            for subscriber in list(self._subscribers):
                try:
                    subscriber.send_nowait((self.sent, notification))
                except anyio.WouldBlock:  # a follower that does not read loses this one
                    pass
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    self._subscribers.discard(subscriber)
            try:
                self._queue.send_nowait(notification)
            except anyio.WouldBlock:
                self.dropped += 1
                log.warning(
                    "notification dropped, %d are waiting: %s", self.backlog, notification.title
                )
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                # Stopping (a signal cancelled everything at once): its channels are gone
                # while what they were told of still ends, as a run cancelled with them.
                self.dropped += 1
                log.info("notification not sent (the notifier stopped): %s", notification.title)
        except Exception:  # never break the caller: a notification is a side effect
            log.exception("could not send a notification")

    @asynccontextmanager
    async def subscribe(
        self,
    ) -> AsyncIterator[MemoryObjectReceiveStream[tuple[int, Notification]]]:
        """``(number, notification)`` for each one sent from now on, while the block runs
        (a follower's view; it ends when the notifier stops).

        A follower that reads too slowly misses notifications rather than slowing the
        others down (the numbers show the gap).
        """
        send, receive = anyio.create_memory_object_stream[tuple[int, Notification]](
            SUBSCRIBER_BUFFER
        )
        self._subscribers.add(send)
        try:
            async with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    @property
    def recent(self) -> list[Notification]:
        """The last notifications sent (at most 50), oldest first."""
        return [notification for _, notification in self.numbered]

    # --- the lifespan -------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        send, receive = anyio.create_memory_object_stream[Notification](self.backlog)
        drained = anyio.Event()
        self._loop_thread, self._token = threading.get_ident(), anyio.lowlevel.current_token()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._dispatch, receive, drained)
            self._queue = send
            try:
                yield
            finally:
                self._queue = None
                self._loop_thread = self._token = None
                send.close()
                for subscriber in list(self._subscribers):
                    subscriber.close()
                # What was sent before the runtime stopped still goes out, for a while.
                with anyio.move_on_after(self.shutdown_grace, shield=True):
                    await drained.wait()
                if not drained.is_set():
                    log.warning("notifications still under way at exit were abandoned")
                tg.cancel_scope.cancel()

    async def _dispatch(
        self, receive: MemoryObjectReceiveStream[Notification], drained: anyio.Event
    ) -> None:
        lanes: dict[str, _Lane] = {}
        try:
            async with anyio.create_task_group() as deliveries, receive:
                try:
                    async for notification in receive:
                        for key, channel in self._channels():
                            if channel.kinds is not None and notification.kind not in channel.kinds:
                                continue
                            lane = lanes.get(key)
                            if lane is None:
                                lane = lanes[key] = _Lane(self, channel, deliveries)
                            lane.channel = channel  # a plugin registered anew: its new hook
                            lane.put(notification)
                finally:
                    # The lanes deliver what they hold, then their workers end.
                    for lane in lanes.values():
                        lane.close()
        finally:
            drained.set()

    def channels_now(self) -> list[Channel]:
        """Where a notification sent now goes: the configured channels, then each plugin's
        ``notify`` hook (the attached clients aside)."""
        return [channel for _, channel in self._channels()]

    def _channels(self) -> list[tuple[str, Channel]]:
        """Each channel to deliver to now, with the key of its lane."""
        channels: list[tuple[str, Channel]] = [
            (f"config:{n}", channel) for n, channel in enumerate(self.channels)
        ]
        host = self._host() if self._host is not None else _default_host()
        if host is not None:
            for impl in host.manager.hook.notify.get_hookimpls():
                channels.append((f"plugin:{impl.plugin_name}", _PluginChannel(impl, self)))
        return channels

    async def _deliver(self, channel: Channel, notification: Notification) -> None:
        try:
            with anyio.fail_after(channel.deadline):
                await channel.deliver(notification)
        except Exception as exc:
            self.failed += 1
            log.warning(
                "notification %s (%s) not delivered to %s: %s",
                notification.id,
                notification.kind,
                channel.name,
                _describe(exc),
            )
        else:
            self.delivered += 1

    # --- plugin calls in threads --------------------------------------------------------

    def _enter_call(self, plugin: str) -> bool:
        with self._calls_lock:
            running = self._running_calls.get(plugin, 0)
            if running >= MAX_STUCK_CALLS:
                return False
            self._running_calls[plugin] = running + 1
            return True

    def _leave_call(self, plugin: str) -> None:
        with self._calls_lock:
            self._running_calls[plugin] -= 1


class _Lane:
    """One channel's own backlog and workers: a channel that hangs holds up only itself.

    At most :data:`LANE_WORKERS` deliveries to the channel run at once; at most
    :data:`LANE_BACKLOG` notifications wait for them, and more are dropped for this
    channel (with a warning) while the other channels still get theirs.
    """

    def __init__(self, notifier: Notifier, channel: Channel, tg: TaskGroup) -> None:
        self.notifier = notifier
        self.channel = channel
        self.send, receive = anyio.create_memory_object_stream[Notification](LANE_BACKLOG)
        for _ in range(LANE_WORKERS):
            tg.start_soon(self._work, receive.clone())
        receive.close()

    def put(self, notification: Notification) -> None:
        try:
            self.send.send_nowait(notification)
        except anyio.WouldBlock:
            self.notifier.dropped += 1
            log.warning(
                "notification %s dropped for %s: %d wait for it already",
                notification.id,
                self.channel.name,
                LANE_BACKLOG,
            )

    def close(self) -> None:
        self.send.close()

    async def _work(self, receive: MemoryObjectReceiveStream[Notification]) -> None:
        async with receive:
            async for notification in receive:
                await self.notifier._deliver(self.channel, notification)


class _PluginChannel:
    """A plugin's ``notify`` hook as a channel: awaited if ``async``, else in a thread."""

    def __init__(self, impl: Any, notifier: Notifier) -> None:
        self.impl = impl
        self.notifier = notifier
        self.name = f"plugin {impl.plugin_name!r}"
        self.kinds: frozenset[str] | None = None
        # The thread gets the deadline; the outer one (a little later) only backs it up.
        self.deadline = notifier.plugin_deadline + 1.0

    async def deliver(self, notification: Notification) -> None:
        function = self.impl.function
        arguments = {"notification": notification} if self.impl.argnames else {}
        if inspect.iscoroutinefunction(function):
            with anyio.fail_after(self.notifier.plugin_deadline):
                await function(**arguments)
            return
        plugin = self.impl.plugin_name
        if not self.notifier._enter_call(plugin):
            raise RuntimeError(f"skipped: {MAX_STUCK_CALLS} earlier calls still hang")

        def call() -> None:
            try:
                function(**arguments)
            finally:
                self.notifier._leave_call(plugin)

        await call_in_daemon_thread(
            call, self.notifier.plugin_deadline, name=f"aegis-notify-{plugin}"
        )


def _default_host() -> PluginHost | None:
    from aegis.plugins import get_host

    try:
        return get_host()
    except Exception:  # pragma: no cover - get_host records broken plugins itself
        log.exception("no plugin host")
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
