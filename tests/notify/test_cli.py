"""``aegis notifications``: ``--test`` checks each channel for real; the list needs a daemon."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import anyio
import pytest

from tests.fixtures.fakes import AEGIS, clean_env, run
from tests.notify.hookserver import hook_server

pytestmark = pytest.mark.anyio

CONFIG = """
from aegis.builtins.scripted import Scripted
from aegis.config import Agent
from aegis.notify import Desktop, Webhook

agents = {"main": Agent(provider=Scripted())}
default_agent = "main"
notifications = [
    Desktop(),
    Webhook(url="URL/ok", headers_env={"Authorization": "HOOK_AUTH"}),
    Webhook(url_env="NOT_SET_ANYWHERE"),
]
"""

RECORDING = '#!/bin/sh\nprintf "%s\\n" "$@" > "{out}"\n'


async def test_the_test_notification_goes_to_each_channel_and_each_result_is_said(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "notify-send").write_text(RECORDING.format(out=tmp_path / "argv"))
    (bin_dir / "notify-send").chmod(0o755)
    async with hook_server() as server:
        (tmp_path / ".aegis.py").write_text(CONFIG.replace("URL", server.url))
        env = clean_env(home=tmp_path, path_dirs=(bin_dir,))
        env["HOOK_AUTH"] = "Bearer from-the-environment"
        done = await anyio.to_thread.run_sync(
            partial(run, [AEGIS, "notifications", "--test"], cwd=tmp_path, env=env)
        )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "✓ desktop"
    assert lines[1] == f"✓ webhook http://127.0.0.1:{server.port}/…"
    assert lines[2].startswith("✗ webhook: ConfigError: the webhook's URL is to come from")
    assert "$NOT_SET_ANYWHERE, which is not set" in lines[2]
    [request] = server.received
    assert request.headers["authorization"] == "Bearer from-the-environment"
    assert request.json()["kind"] == "test"
    assert (tmp_path / "argv").read_text().splitlines()[-2] == "aegis: a test notification"


async def test_the_list_says_it_needs_the_daemon(tmp_path: Path) -> None:
    (tmp_path / ".aegis.py").write_text(CONFIG.replace("URL", "http://127.0.0.1:9"))
    done = await anyio.to_thread.run_sync(
        partial(run, [AEGIS, "notifications"], cwd=tmp_path, env=clean_env(home=tmp_path))
    )
    assert done.returncode == 1
    assert "no aegis daemon runs for this project" in done.stderr
    assert "aegis notifications --test" in done.stderr


def test_json_is_one_object_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    from aegis.cli.notifications_cmd import _show
    from aegis.notify import Notification

    sent = [
        (1, Notification(kind="task_failed", title="task 1 failed", body="line one\nline two")),
        (2, Notification(kind="question_asked", title="which branch?", question_id="q1")),
    ]
    _show(sent, True, table=True)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2]
    assert json.loads(lines[0])["body"] == "line one\nline two"
