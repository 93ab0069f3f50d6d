"""The protocol's route for notifications: ``GET /v1/notifications``.

Without ``follow``: the last notifications the daemon sent (at most 50), numbered.
With ``follow=true``: an event stream of those numbered above ``after`` (or
``Last-Event-ID``), then of each one as it is sent, until the daemon stops. Each
record is ``{"seq": N, "t": ..., "type": "notification", "notification": {...}}``,
the notification in the JSON form a webhook receives (with its ``version``).
Attached clients use it to tell the person at the terminal (the TUI rings its bell).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aegis.daemon.routes import EventStream, _after, _client, _endpoint, _flag, _ok
from aegis.notify import Notification, Notifier

if TYPE_CHECKING:
    from aegis.daemon.service import Daemon

SUBJECT = "notifications"
"""What a following client is attached to, in ``aegis daemon status``."""


def record(seq: int, notification: Notification) -> dict[str, Any]:
    """The protocol's form of notification number ``seq``."""
    return {
        "seq": seq,
        "t": round(time.time(), 3),
        "type": "notification",
        "notification": notification.payload(),
    }


async def _records(notifier: Notifier, after: int) -> AsyncGenerator[dict[str, Any], None]:
    # Subscribed before the recent ones are read (no await between): none is missed.
    async with notifier.subscribe() as live:
        for seq, notification in list(notifier.numbered):
            if seq > after:
                after = seq
                yield record(seq, notification)
        async for seq, notification in live:
            if seq > after:
                yield record(seq, notification)


async def notifications(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    notifier = daemon.runtime.notifier
    after = _after(request)
    if _flag(request, "follow", default=False):
        return EventStream(
            daemon,
            _client(request),
            SUBJECT,
            _records(notifier, after),
            lambda stopping: {"reason": "daemon stopping" if stopping else "ended"},
        )
    recent = [record(seq, n) for seq, n in notifier.numbered if seq > after]
    return _ok({"notifications": recent, "last": notifier.sent})


def routes(prefix: str) -> list[Route]:
    """The notification routes under ``prefix`` (``/v1``)."""
    return [Route(f"{prefix}/notifications", _endpoint(notifications), methods=["GET"])]
