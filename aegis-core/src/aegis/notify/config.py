"""The notification channels a project declares in ``.aegis.py``: ``Webhook`` and ``Desktop``.

::

    from aegis.notify import Desktop, Webhook

    notifications = [
        Desktop(),
        Webhook(url_env="TEAM_HOOK_URL", headers_env={"Authorization": "TEAM_HOOK_AUTH"}),
    ]

``.aegis.py`` is committed: a secret (a token, a webhook URL that is itself a secret,
an HMAC key) is named by the environment variable that holds it, read when a
notification is delivered, and never written to ``.aegis/`` or a log.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, get_args, runtime_checkable
from urllib.parse import urlsplit

from aegis.errors import ConfigError
from aegis.notify.model import NotificationKind

if TYPE_CHECKING:
    from aegis.notify.notifier import Channel

KINDS: tuple[str, ...] = get_args(NotificationKind)
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_kinds(owner: str, kinds: Sequence[str] | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    if isinstance(kinds, str) or not all(kind in KINDS for kind in kinds):
        raise ConfigError(
            f"{owner}(kinds={kinds!r}) names a kind of notification aegis does not send",
            field="kinds",
            hint=f"a list of: {', '.join(KINDS)}",
        )
    return frozenset(kinds)


def _check_env(owner: str, field_name: str, name: object) -> None:
    if not isinstance(name, str) or not _ENV.match(name):
        raise ConfigError(
            # The value is not shown: it may be the secret itself, put there by mistake.
            f"{owner}({field_name}=...) must name an environment variable, "
            "and what it holds is not a variable's name",
            field=field_name,
            hint="the name of the variable, e.g. 'TEAM_HOOK_TOKEN'; export it where aegis runs",
        )


def environment_value(name: str, what: str) -> str:
    """The value of environment variable ``name``; a clear error (without any value) if unset."""
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(
            f"{what} is to come from ${name}, which is not set",
            hint=f"export {name}=... in the environment aegis (its daemon) runs in",
        )
    return value


def check_url(url: str, owner: str = "Webhook") -> None:
    """Refuse what is not an ``http(s)`` URL, or holds a password (``.aegis.py`` is committed)."""
    parts = urlsplit(url)
    # The URL itself is never shown: its path or query may be a token.
    if not parts.scheme or "://" not in url:
        problem = "does not start with https:// (or http://)"
    elif parts.scheme not in ("http", "https"):
        problem = f"is {parts.scheme}://...: only http(s) URLs are POSTed to"
    elif not parts.hostname:
        problem = f"{parts.scheme}://... names no host"
    else:
        problem = ""
    if problem:
        raise ConfigError(
            f"the {owner} URL {problem}",
            field="url",
            hint="Webhook(url='https://hooks.example.com/aegis')",
        )
    if parts.password is not None:
        raise ConfigError(
            f"the {owner} URL holds a password, and .aegis.py is committed",
            field="url",
            hint="leave it out and send it in a header from the environment: "
            "Webhook(url, headers_env={'Authorization': 'HOOK_AUTH'})",
        )


@runtime_checkable
class ChannelConfig(Protocol):
    """What ``notifications = [...]`` holds: an object that makes a channel.

    ``Webhook`` and ``Desktop`` are two; a plugin may offer more (any object with a
    ``channel()`` method returning a :class:`~aegis.notify.Channel`).
    """

    def channel(self) -> Channel:
        """The channel that delivers notifications where this object says."""
        ...


@dataclass(frozen=True)
class Webhook:
    """POST each notification, as JSON, to a URL.

    ``url``, or ``url_env``: the environment variable holding the URL (for a URL that
    is itself a secret, like a Slack or Discord incoming webhook's). ``headers``: plain
    headers; ``headers_env``: header name -> environment variable holding its value
    (``{"Authorization": "HOOK_AUTH"}``). ``secret_env``: an environment variable holding
    a key; the body is then signed, ``X-Aegis-Signature: sha256=<hex HMAC-SHA256>``.

    Each attempt gets ``timeout`` seconds; a connection error, a timeout, a 5xx, 408
    or 429 answer is retried up to ``retries`` times with a growing pause (0.5 s, 1 s,
    2 s, ... at most 8 s); any other answer but a 2xx is a failure at once. ``kinds``:
    only these kinds of notification (default: all).
    """

    url: str | None = None
    url_env: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    headers_env: Mapping[str, str] = field(default_factory=dict)
    secret_env: str | None = None
    timeout: float = 10.0
    retries: int = 3
    kinds: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.url_env is None):
            raise ConfigError(
                "Webhook needs its URL: url=... or url_env=... (one of them)",
                field="url",
                hint="Webhook(url='https://hooks.example.com/aegis'), or "
                "Webhook(url_env='SLACK_WEBHOOK_URL') when the URL is a secret",
            )
        if self.url is not None:
            if not isinstance(self.url, str):
                raise ConfigError(f"Webhook(url={self.url!r}) must be a string", field="url")
            check_url(self.url)
        if self.url_env is not None:
            _check_env("Webhook", "url_env", self.url_env)
        for name, value in {**self.headers, **self.headers_env}.items():
            if not isinstance(name, str) or not _HEADER.match(name) or not isinstance(value, str):
                raise ConfigError(
                    f"Webhook header {name!r}: {value!r} is not a header name and a string",
                    field="headers",
                )
        for variable in self.headers_env.values():
            _check_env("Webhook", "headers_env", variable)
        if self.secret_env is not None:
            _check_env("Webhook", "secret_env", self.secret_env)
        if not isinstance(self.timeout, int | float) or not (0 < self.timeout < math.inf):
            raise ConfigError(
                f"Webhook(timeout={self.timeout!r}) must be a positive number of seconds",
                field="timeout",
            )
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 10:
            raise ConfigError(
                f"Webhook(retries={self.retries!r}) must be a whole number from 0 to 10",
                field="retries",
            )
        _check_kinds("Webhook", self.kinds)

    def channel(self) -> Channel:
        """The channel that delivers to this webhook."""
        from aegis.notify.webhook import WebhookChannel

        return WebhookChannel(self, kinds=_check_kinds("Webhook", self.kinds))


@dataclass(frozen=True)
class Desktop:
    """A desktop notification through ``notify-send``, where it is on ``PATH``.

    Where it is not (a server, a container), notifications are skipped (logged once).
    ``notify-send`` gets ``timeout`` seconds before it is stopped. ``kinds``: only
    these kinds of notification (default: all).
    """

    timeout: float = 5.0
    kinds: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.timeout, int | float) or not (0 < self.timeout < math.inf):
            raise ConfigError(
                f"Desktop(timeout={self.timeout!r}) must be a positive number of seconds",
                field="timeout",
            )
        _check_kinds("Desktop", self.kinds)

    def channel(self) -> Channel:
        """The channel that shows notifications on the desktop."""
        from aegis.notify.desktop import DesktopChannel

        return DesktopChannel(self, kinds=_check_kinds("Desktop", self.kinds))
