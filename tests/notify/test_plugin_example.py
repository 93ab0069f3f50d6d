"""The Slack-like plugin that docs/approvals.md shows, as it is there, delivering to a real
HTTP server on 127.0.0.1 (standing in for Slack's incoming webhook)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aegis.notify import Notification, Notifier
from aegis.plugins import PluginHost
from tests.example_notifier import aegis_slack
from tests.notify.hookserver import hook_server
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "approvals.md"
_TITLED_BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.MULTILINE | re.DOTALL)


def test_the_page_shows_the_plugin_as_it_is() -> None:
    shown = dict(_TITLED_BLOCK.findall(PAGE.read_text()))
    assert shown["aegis_slack.py"] == Path(aegis_slack.__file__).read_text()
    assert 'slack = "aegis_slack"' in shown["pyproject.toml"]


async def test_the_plugin_posts_each_notification_to_the_url_from_the_environment(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.register(aegis_slack, "slack")
    async with hook_server() as server:
        monkeypatch.setenv(aegis_slack.URL_ENV, f"{server.url}/services/T0/B0/xyz")
        async with Notifier(str(tmp_path)) as notifier:
            notifier.send(Notification(kind="task_failed", title="task t-1 failed", body="boom"))
            await until(lambda: notifier.delivered == 1)
    [request] = server.received
    assert request.target == "/services/T0/B0/xyz"
    assert request.json() == {"text": ":x: *task t-1 failed*\nboom"}
