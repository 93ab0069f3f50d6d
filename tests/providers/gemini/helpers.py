"""What the Gemini provider's tests share: an event recorder and the driver's opening."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aegis.config import Agent
from aegis.driver import McpServer, SessionOptions
from aegis.registry import get_registry
from aegis.testing.recorder import Recorder
from aegis_gemini.config import GeminiCLI
from aegis_gemini.driver import GeminiDriver
from tests.support.clis import GEMINI_MODEL, CliEnv, gemini_env


def isolated_gemini(tmp: Path, url: str) -> CliEnv:
    """gemini against ``url`` in a home of its own under ``tmp``.

    The shell tool runs without gemini's pseudo-terminal: gemini 0.61 reports a command's
    output over ACP only then (with its interactive shell the completed ``tool_call_update``
    carries no content, and aegis's ToolResult has nothing to show).
    """
    env = gemini_env(tmp, url)
    settings = env.files[0]
    data = json.loads(settings.read_text())
    data["tools"] = {"shell": {"enableInteractiveShell": False}}
    settings.write_text(json.dumps(data))
    return env


def profile(env: CliEnv | None = None, **config: Any) -> Agent:
    """A gemini profile with the pinned executable and the tests' model, ``full`` by default."""
    config.setdefault("model", GEMINI_MODEL)
    config.setdefault("permission", "full")
    if env is not None:
        config.setdefault("executable", str(env.executable))
    return Agent(provider=GeminiCLI(**config))


def open_driver(
    agent: Agent,
    cwd: Path,
    recorder: Recorder,
    env: CliEnv | None = None,
    *,
    mcp_servers: tuple[McpServer, ...] = (),
    resume: str | None = None,
) -> GeminiDriver:
    """A driver through the registered provider, as the session layer opens one."""
    options = SessionOptions(
        cwd=cwd,
        emit=recorder,
        env=env.env if env is not None else {},
        mcp_servers=mcp_servers,
        resume=resume,
    )
    driver = get_registry().get("gemini").provider.open_driver(agent, options)
    assert isinstance(driver, GeminiDriver)
    return driver
