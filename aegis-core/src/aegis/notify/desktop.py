"""The desktop channel: ``notify-send TITLE BODY``, where ``notify-send`` is on ``PATH``."""

from __future__ import annotations

import logging
import shutil
import subprocess

import anyio

from aegis.notify.config import Desktop
from aegis.notify.model import Notification

log = logging.getLogger("aegis.notify")

EXECUTABLE = "notify-send"
URGENT = frozenset({"approval_needed", "question_asked", "session_failed"})
"""Kinds shown as ``critical`` (they wait for a person), the others as ``normal``."""


def command(executable: str, notification: Notification) -> list[str]:
    """The ``notify-send`` command line that shows ``notification``."""
    urgency = "critical" if notification.kind in URGENT else "normal"
    return [
        executable,
        "--app-name=aegis",
        f"--urgency={urgency}",
        f"--category=aegis.{notification.kind}",
        # After the options: a title that starts with '-' is not taken for one.
        "--",
        notification.title,
        notification.body,
    ]


class DesktopChannel:
    """Shows notifications with ``notify-send``; skips them where there is none."""

    def __init__(self, config: Desktop, *, kinds: frozenset[str] | None = None) -> None:
        self.config = config
        self.kinds = kinds
        self.name = "desktop"
        self.deadline = config.timeout + 1.0
        self._missing_told = False

    async def deliver(self, notification: Notification) -> None:
        """Run ``notify-send`` (stopped after the timeout); raise if it fails."""
        executable = shutil.which(EXECUTABLE)
        if executable is None:
            if not self._missing_told:
                self._missing_told = True
                log.info("no %s on PATH: desktop notifications are skipped", EXECUTABLE)
            return
        # run_process kills the child if the timeout cancels it: none is left behind.
        with anyio.fail_after(self.config.timeout):
            done = await anyio.run_process(
                command(executable, notification),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
        if done.returncode != 0:
            error = done.stderr.decode(errors="replace").strip()
            raise RuntimeError(f"{EXECUTABLE} exited with {done.returncode}: {error[:200]}")
