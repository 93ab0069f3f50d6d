"""A clean environment for running a CLI in a test."""

from __future__ import annotations

import os
from pathlib import Path

INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "TERM")
"""The only variables taken from the caller: node must be found, messages stay UTF-8."""


def isolated_env(home: Path) -> dict[str, str]:
    """An environment with ``HOME`` at ``home`` (created) and nothing of the caller's but
    :data:`INHERITED`, so that a developer's API keys or config cannot leak into a test.

    Requests to ``127.0.0.1`` and ``localhost`` bypass any proxy added later.
    """
    env = {k: os.environ[k] for k in INHERITED if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env
