"""The webhook channel against a real HTTP server on 127.0.0.1 that the test starts.

A server that answers, one that fails and then answers (retries, with the same
notification id), one that refuses for good (no retry), and one that never answers
(the timeout; meanwhile the other channels get theirs). Secrets come from the
environment and are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from pathlib import Path

import pytest

from aegis import hookimpl
from aegis.errors import ConfigError
from aegis.notify import Notification, Notifier, Webhook
from aegis.notify.webhook import WebhookChannel
from aegis.plugins import PluginHost
from tests.notify.hookserver import hook_server
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

TOKEN = "s3cr3t-t0ken-value"
KEY = "signing-key-value"


def question() -> Notification:
    return Notification(
        kind="question_asked",
        title="reviewer asks: which branch?",
        body="main or develop?",
        session="reviewer",
        question_id="q-7",
    )


async def test_a_notification_is_posted_as_versioned_json_with_headers_from_the_environment(
    host: PluginHost,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HOOK_AUTH", f"Bearer {TOKEN}")
    monkeypatch.setenv("HOOK_KEY", KEY)
    async with hook_server() as server:
        webhook = Webhook(
            url=f"{server.url}/hooks/aegis?team=core",
            headers={"X-Team": "core"},
            headers_env={"Authorization": "HOOK_AUTH"},
            secret_env="HOOK_KEY",
        )
        sent = question()
        async with Notifier(str(tmp_path), [webhook.channel()]) as notifier:
            notifier.send(sent)
            await until(lambda: notifier.delivered == 1)
    [request] = server.received
    assert (request.method, request.target) == ("POST", "/hooks/aegis?team=core")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-team"] == "core"
    expected = hmac.new(KEY.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-aegis-signature"] == f"sha256={expected}"
    body = request.json()
    assert body == {"version": 1, **sent.model_dump(mode="json"), "project": str(tmp_path)}
    assert (body["kind"], body["question_id"], body["session"]) == (
        "question_asked",
        "q-7",
        "reviewer",
    )
    assert not any(TOKEN in r.getMessage() or KEY in r.getMessage() for r in caplog.records)


async def test_a_server_that_fails_then_succeeds_gets_the_same_notification_again(
    host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "aegis.notify")
    async with hook_server(statuses=[503, 500, 200]) as server:
        channel = WebhookChannel(Webhook(url=server.url, retries=3, timeout=5))
        async with Notifier(str(tmp_path), [channel]) as notifier:
            notifier.send(question())
            await until(lambda: notifier.delivered == 1)
    assert channel.attempts == 3
    assert len({r.json()["id"] for r in server.received}) == 1
    assert notifier.failed == 0
    retried = [r.getMessage() for r in caplog.records if "attempt" in r.getMessage()]
    assert retried == [
        f"webhook http://127.0.0.1:{server.port}/…, attempt 1 of 4: it answered HTTP 503",
        f"webhook http://127.0.0.1:{server.port}/…, attempt 2 of 4: it answered HTTP 500",
    ]


async def test_a_client_error_is_not_retried_and_retries_end(
    host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with hook_server(statuses=[404]) as refusing, hook_server(statuses=[502]) as failing:
        refused = WebhookChannel(Webhook(url=refusing.url, retries=3))
        exhausted = WebhookChannel(Webhook(url=failing.url, retries=1))
        async with Notifier(str(tmp_path), [refused, exhausted]) as notifier:
            notifier.send(question())
            await until(lambda: notifier.failed == 2)
    assert (refused.attempts, exhausted.attempts) == (1, 2)
    assert notifier.delivered == 0
    failures = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert any("WebhookFailed: it answered HTTP 404" in f for f in failures)
    assert any("WebhookFailed: it answered HTTP 502" in f for f in failures)


async def test_a_server_that_hangs_times_out_and_stalls_nothing(
    host: PluginHost, tmp_path: Path
) -> None:
    got: list[Notification] = []

    class Recorder:
        @hookimpl
        def notify(self, notification: Notification) -> None:
            got.append(notification)

    host.register(Recorder(), "recorder")
    async with hook_server(hang=True) as server:
        channel = WebhookChannel(Webhook(url=server.url, retries=1, timeout=0.5))
        async with Notifier(str(tmp_path), [channel]) as notifier:
            notifier.send(question())
            # The plugin got it while the webhook's first request still hangs.
            await until(lambda: len(got) == 1 and len(server.received) >= 1)
            assert notifier.failed == 0
            await until(lambda: notifier.failed == 1)
            assert notifier.delivered == 1
            # The notifier still delivers: the hang cost only its own delivery.
            notifier.send(question())
            await until(lambda: len(got) == 2)
        assert (
            len(server.received) >= 3
        )  # two attempts for the first, one (at least) for the second


async def test_a_refused_connection_is_retried_then_reported(
    host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with hook_server() as server:
        url = server.url
    # Nothing listens there any more.
    channel = WebhookChannel(Webhook(url=url, retries=1, timeout=2))
    async with Notifier(str(tmp_path), [channel]) as notifier:
        notifier.send(question())
        await until(lambda: notifier.failed == 1)
    assert channel.attempts == 2
    assert any("WebhookFailed: cannot reach it" in r.getMessage() for r in caplog.records)


async def test_a_url_from_the_environment_is_never_logged(
    host: PluginHost,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with hook_server(statuses=[500]) as server:
        monkeypatch.setenv("TEAM_HOOK_URL", f"{server.url}/T000/B000/{TOKEN}")
        channel = WebhookChannel(Webhook(url_env="TEAM_HOOK_URL", retries=1, timeout=2))
        async with Notifier(str(tmp_path), [channel]) as notifier:
            notifier.send(question())
            await until(lambda: notifier.failed == 1)
    assert server.received[0].target == f"/T000/B000/{TOKEN}"
    assert caplog.records
    assert not any(TOKEN in r.getMessage() for r in caplog.records)


async def test_a_missing_secret_fails_the_delivery_by_the_variable_s_name(
    host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with hook_server() as server:
        channel = WebhookChannel(
            Webhook(url=server.url, headers_env={"Authorization": "NO_SUCH_VAR"})
        )
        async with Notifier(str(tmp_path), [channel]) as notifier:
            notifier.send(question())
            await until(lambda: notifier.failed == 1)
    assert server.received == []
    assert any("$NO_SUCH_VAR, which is not set" in r.getMessage() for r in caplog.records)


async def test_a_url_from_the_environment_without_a_scheme_fails_by_the_variable_s_name(
    host: PluginHost,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEAM_HOOK_URL", "hooks.example.com/T000")
    channel = WebhookChannel(Webhook(url_env="TEAM_HOOK_URL"))
    async with Notifier(str(tmp_path), [channel]) as notifier:
        notifier.send(question())
        await until(lambda: notifier.failed == 1)
    assert channel.attempts == 0
    assert any(
        "$TEAM_HOOK_URL: the Webhook URL does not start with https://" in r.getMessage()
        for r in caplog.records
    )
    assert not any("T000" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs its URL"),
        ({"url": "ftp://example.com/x"}, "is ftp://...: only http(s) URLs are POSTed to"),
        ({"url": "hooks.example.com/x"}, "does not start with https:// (or http://)"),
        ({"url": "localhost:8080/x"}, "does not start with https:// (or http://)"),
        ({"url": "https:///x"}, "https://... names no host"),
        ({"url": "https://user:pw@example.com/x"}, "holds a password"),
        (
            {"url": "https://example.com", "headers_env": {"Authorization": "Bearer abc"}},
            "must name an environment variable",
        ),
        ({"url": "https://example.com", "retries": -1}, "retries"),
        ({"url": "https://example.com", "timeout": 0}, "timeout"),
        ({"url": "https://example.com", "kinds": ["task_failed", "lunch"]}, "kind of notification"),
    ],
)
def test_a_webhook_declaration_is_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        Webhook(**kwargs)  # type: ignore[arg-type]
    assert "pw" not in str(caught.value)
    assert "Bearer" not in str(caught.value)
