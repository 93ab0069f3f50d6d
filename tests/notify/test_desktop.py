"""The desktop channel runs ``notify-send`` from ``PATH``: here a real program the test puts
there, which records its arguments (and may hang, to be stopped)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from aegis.notify import Desktop, Notification, Notifier
from aegis.plugins import PluginHost
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

RECORDING = """#!/bin/sh
echo $$ > "{dir}/pid"
{hang}
for arg in "$@"; do printf '%s\\0' "$arg"; done > "{dir}/argv.tmp"
mv "{dir}/argv.tmp" "{dir}/argv"
"""


HANG = 'sleep 600 & echo $! > "{dir}/child"; wait'


def install_notify_send(folder: Path, monkeypatch: pytest.MonkeyPatch, hang: bool = False) -> Path:
    """A ``notify-send`` in ``folder/bin``, first on ``PATH``, that records its argv."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    script = bin_dir / "notify-send"
    script.write_text(RECORDING.format(dir=folder, hang=HANG.format(dir=folder) if hang else ""))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return folder / "argv"


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_a_notification_runs_notify_send_with_its_title_and_body(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv_file = install_notify_send(tmp_path, monkeypatch)
    async with Notifier(str(tmp_path), [Desktop().channel()]) as notifier:
        notifier.send(
            Notification(kind="approval_needed", title="-reviewer wants to run rm", body="allow?")
        )
        await until(lambda: notifier.delivered == 1)
    argv = argv_file.read_bytes().split(b"\0")[:-1]
    assert [arg.decode() for arg in argv] == [
        "--app-name=aegis",
        "--urgency=critical",
        "--category=aegis.approval_needed",
        "--",
        "-reviewer wants to run rm",
        "allow?",
    ]


async def test_a_hanging_notify_send_is_stopped(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_notify_send(tmp_path, monkeypatch, hang=True)
    async with Notifier(str(tmp_path), [Desktop(timeout=0.5).channel()]) as notifier:
        notifier.send(Notification(kind="task_failed", title="t-1 failed"))
        await until(lambda: notifier.failed == 1)
    # The script and its child (a `sleep` it waits for): the whole group was stopped.
    pid, child = (int((tmp_path / name).read_text()) for name in ("pid", "child"))
    await until(lambda: not alive(pid) and not alive(child))


async def test_without_notify_send_desktop_notifications_are_skipped(
    host: PluginHost,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "aegis.notify")
    monkeypatch.setenv("PATH", str(tmp_path))
    async with Notifier(str(tmp_path), [Desktop().channel()]) as notifier:
        notifier.send(Notification(kind="task_failed", title="one"))
        notifier.send(Notification(kind="task_failed", title="two"))
        await until(lambda: notifier.delivered == 2)
    told = [r for r in caplog.records if "no notify-send on PATH" in r.getMessage()]
    assert len(told) == 1
