"""Notifications from the daemon, in the TUI: the bell rings and a toast says what happened.

The daemon sends a notification when an agent asks for an approval or asks a question,
a queued task fails, a workflow run ends, a session fails (see docs/approvals.md); the
TUI follows them while attached (``GET /v1/notifications?follow=true``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from aegis.daemon.client import DaemonClient, DaemonError, StreamEnd
from aegis.notify import Notification

log = logging.getLogger("aegis.tui")

Severity = Literal["information", "warning", "error"]
TOAST_SECONDS = 10.0


def severity(notification: Notification) -> Severity:
    """How a toast shows ``notification``: failures in red, what waits for you in yellow."""
    if notification.kind in ("task_failed", "session_failed") or notification.outcome in (
        "failed",
        "crashed",
    ):
        return "error"
    if notification.kind in ("approval_needed", "question_asked", "budget_reached"):
        return "warning"
    return "information"


def toast(notification: Notification) -> str:
    """The toast's text: the title, and the body's first line."""
    first = notification.body.strip().splitlines()[0] if notification.body.strip() else ""
    return f"{notification.title}\n{first}" if first else notification.title


async def follow(client: DaemonClient, on_notification: Callable[[Notification], None]) -> None:
    """Call ``on_notification`` with each notification the daemon sends from now on,
    until it stops (those it sent before are not told again)."""
    try:
        recent = await client.notifications()
        after = recent[-1][0] if recent else 0
        async for item in client.follow_notifications(after):
            if isinstance(item, StreamEnd):
                return
            on_notification(item[1])
    except (DaemonError, OSError) as exc:  # the daemon went away: the tabs say so
        log.warning("the daemon's notifications stopped: %s", exc)
