"""The desktop channel: ``notify-send TITLE BODY``, where ``notify-send`` is on ``PATH``."""

from __future__ import annotations

import logging
import shutil
import subprocess

import anyio

from aegis.notify.config import Desktop
from aegis.notify.model import Notification
from aegis.process import forget_group, kill_group, reaped_at_exit

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

    @staticmethod
    def available() -> bool:
        """Whether there is a ``notify-send`` on ``PATH`` (else notifications are skipped)."""
        return shutil.which(EXECUTABLE) is not None

    async def deliver(self, notification: Notification) -> None:
        """Run ``notify-send`` (stopped after the timeout); raise if it fails."""
        executable = shutil.which(EXECUTABLE)
        if executable is None:
            if not self._missing_told:
                self._missing_told = True
                log.info("no %s on PATH: desktop notifications are skipped", EXECUTABLE)
            return
        # Its own process group, killed whole when it overstays (or aegis exits meanwhile):
        # nothing it started is left behind.
        process = await anyio.open_process(
            command(executable, notification),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        reaped_at_exit(process.pid)
        try:
            async with process:
                with anyio.fail_after(self.config.timeout):
                    assert process.stderr is not None
                    error = b"".join([chunk async for chunk in process.stderr])
                    returncode = await process.wait()
        finally:
            kill_group(process.pid)
            forget_group(process.pid)
        if returncode != 0:
            text = error.decode(errors="replace").strip()
            raise RuntimeError(f"{EXECUTABLE} exited with {returncode}: {text[:200]}")
