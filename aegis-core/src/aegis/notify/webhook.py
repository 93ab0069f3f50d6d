"""The webhook channel: POST a notification's JSON to a URL, with retries and a timeout.

The body is :meth:`Notification.payload` (``{"version": 1, "kind": ..., ...}``; see
docs/approvals.md). HTTP/1.1 is spoken with h11 on an anyio TCP (or TLS) stream, the
way the daemon's client does, so that a timeout or the runtime's stop cancels a
request cleanly, with no thread left behind.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from anyio.abc import ByteStream

from aegis import __version__
from aegis.daemon.http import Exchange
from aegis.errors import ConfigError
from aegis.notify.config import Webhook, check_url, environment_value
from aegis.notify.model import Notification

log = logging.getLogger("aegis.notify")

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 8.0
RETRIED_STATUSES = frozenset({408, 429})
"""Answers below 500 that are worth another try (timed out, too many requests)."""
SIGNATURE_HEADER = "X-Aegis-Signature"


class WebhookFailed(Exception):
    """A delivery failed; ``retry`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Target:
    """Where a request goes: scheme, host, port and the request target (path and query)."""

    tls: bool
    host: str
    port: int
    target: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if tls else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(tls, host, port, target)

    @property
    def host_header(self) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        # What logs show: never the path or query, which may hold a token.
        return f"{'https' if self.tls else 'http'}://{self.host_header}/…"


async def post(target: Target, headers: dict[str, str], body: bytes, timeout: float) -> int:
    """POST ``body`` to ``target``; its status. Raises ``WebhookFailed`` when no answer came."""
    try:
        with anyio.fail_after(timeout):
            stream: ByteStream
            if target.tls:
                # Not standard-compatible: a server that closes without TLS's close_notify
                # (many do, with Connection: close) still gave a whole answer.
                context = ssl.create_default_context()
                stream = await anyio.connect_tcp(
                    target.host, target.port, ssl_context=context, tls_standard_compatible=False
                )
            else:
                stream = await anyio.connect_tcp(target.host, target.port)
            async with stream:
                exchange = Exchange(stream, host=target.host_header)
                await exchange.send_request("POST", target.target, headers, body)
                head = await exchange.head()
                async for _ in exchange.body():  # read to the end: a clean close
                    pass
    except TimeoutError:
        raise WebhookFailed(f"no answer in {timeout:g} s", retry=True) from None
    except (OSError, ConnectionError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        raise WebhookFailed(f"cannot reach it: {exc or type(exc).__name__}", retry=True) from None
    return head.status


class WebhookChannel:
    """Delivers notifications to one :class:`~aegis.notify.Webhook`."""

    def __init__(self, config: Webhook, *, kinds: frozenset[str] | None = None) -> None:
        self.config = config
        self.kinds = kinds
        # Named by its host as soon as the URL is known (one from the environment: on delivery).
        self.name = f"webhook {Target.parse(config.url)}" if config.url else "webhook"
        pauses = sum(min(BACKOFF_FIRST * 2**n, BACKOFF_MAX) for n in range(config.retries))
        # Every attempt may use its whole timeout; a little more for the notifier's clock.
        self.deadline = (config.retries + 1) * config.timeout + pauses + 1.0
        self.attempts = 0
        """Requests sent so far (every attempt of every delivery)."""

    def _url(self) -> str:
        if self.config.url is not None:
            return self.config.url
        assert self.config.url_env is not None
        url = environment_value(self.config.url_env, "the webhook's URL")
        try:
            check_url(url)
        except ConfigError as error:  # say where the URL came from: it is not in .aegis.py
            raise ConfigError(
                f"${self.config.url_env}: {error.message}",
                field="url_env",
                hint=f"export {self.config.url_env}='https://...' where aegis runs",
            ) from None
        return url

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {"User-Agent": f"aegis/{__version__}", "Accept": "*/*"}
        headers.update(self.config.headers)
        for name, variable in self.config.headers_env.items():
            headers[name] = environment_value(variable, f"the webhook's {name} header")
        if self.config.secret_env is not None:
            key = environment_value(self.config.secret_env, "the webhook's signing key")
            digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        return headers

    async def deliver(self, notification: Notification) -> None:
        """POST ``notification``; retry what may pass next time; raise when it did not."""
        target = Target.parse(self._url())
        self.name = f"webhook {target}"
        body = json.dumps(notification.payload()).encode()
        headers = self._headers(body)
        pause = BACKOFF_FIRST
        for attempt in range(self.config.retries + 1):
            if attempt:
                await anyio.sleep(pause)
                pause = min(pause * 2, BACKOFF_MAX)
            self.attempts += 1
            try:
                status = await post(target, headers, body, self.config.timeout)
            except WebhookFailed as exc:
                failure = exc
            else:
                if 200 <= status < 300:
                    return
                retry = status >= 500 or status in RETRIED_STATUSES
                failure = WebhookFailed(f"it answered HTTP {status}", retry=retry)
            if not failure.retry:
                break
            log.info(
                "webhook %s, attempt %d of %d: %s",
                target,
                attempt + 1,
                self.config.retries + 1,
                failure,
            )
        raise failure
