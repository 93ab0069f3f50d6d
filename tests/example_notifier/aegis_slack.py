"""Post aegis's notifications to a Slack channel, through an incoming webhook."""

from __future__ import annotations

import json
import os
import urllib.request

from aegis import hookimpl
from aegis.notify import Notification

URL_ENV = "SLACK_WEBHOOK_URL"
ICONS = {
    "approval_needed": ":raised_hand:",
    "question_asked": ":question:",
    "task_failed": ":x:",
    "workflow_finished": ":checkered_flag:",
    "session_failed": ":boom:",
    "budget_reached": ":moneybag:",
}


@hookimpl
def notify(notification: Notification) -> None:
    # The URL is a secret: it comes from the environment, never from a committed file.
    url = os.environ.get(URL_ENV)
    if not url:
        return
    icon = ICONS.get(notification.kind, ":bell:")
    text = f"{icon} *{notification.title}*\n{notification.body}".strip()
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # A plain (not async) hook runs in a thread of its own: it may block on the network.
    # An exception (HTTPError, a timeout) is logged by aegis; nothing else is affected.
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()
