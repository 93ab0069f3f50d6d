"""What the OpenCode provider's tests share: an isolated opencode project and a profile."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aegis.config import Agent
from aegis_opencode.config import OpenCode
from tests.support.clis import CliEnv, opencode_config, opencode_env

MODELS = ("m1", "m2")
"""The fake provider's models; opencode's configured default is the first."""
MODEL = "fake/m2"
"""The profiles' model: not opencode's default, so that choosing it shows."""


@dataclass(frozen=True)
class Project:
    """An isolated opencode home and the project folder whose opencode.json it reads."""

    env: CliEnv
    path: Path


def isolated_opencode(tmp: Path, url: str) -> Project:
    """opencode against ``url`` with a home of its own, offering the fake models ``MODELS``."""
    path = tmp / "project"
    env = opencode_env(tmp, url, path)
    (path / "opencode.json").write_text(json.dumps(opencode_config(url, MODELS)))
    return Project(env, path)


def profile(project: Project | None = None, **config: Any) -> Agent:
    """An opencode profile with the pinned executable and ``MODEL``, ``full`` by default."""
    config.setdefault("model", MODEL)
    config.setdefault("permission", "full")
    if project is not None:
        config.setdefault("executable", str(project.env.executable))
    return Agent(provider=OpenCode(**config))
