"""Shared pieces of the Claude provider's tests: event recording, fixtures, the fake CLI."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aegis.config import Agent
from aegis.driver import McpServer, SessionOptions
from aegis.testing.recorder import Recorder
from aegis_claude.config import ClaudeCode
from aegis_claude.driver import ClaudeDriver
from aegis_claude.provider import ClaudeCodeProvider

FIXTURES = Path(__file__).parent / "fixtures"
FAKE_CLAUDE = Path(__file__).parent / "fake_claude.py"

JSON = dict[str, Any]
E = TypeVar("E")


def fixture_lines(name: str) -> list[JSON]:
    """The stdout lines of a captured scenario (see ``fixtures/capture.py``)."""
    with (FIXTURES / f"{name}.jsonl").open(encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def turn_lines(lines: list[JSON]) -> Iterator[list[JSON]]:
    """The lines of each turn: from its lifecycle ``started`` up to its ``result``."""
    current: list[JSON] | None = None
    for line in lines:
        if line.get("type") == "command_lifecycle" and line.get("state") == "started":
            current = []
        elif current is not None:
            current.append(line)
            if line.get("type") == "result":
                yield current
                current = None


def open_driver(
    config: ClaudeCode,
    cwd: Path,
    recorder: Recorder,
    *,
    env: dict[str, str] | None = None,
    mcp_servers: tuple[McpServer, ...] = (),
    resume: str | None = None,
    preamble: str | None = None,
) -> ClaudeDriver:
    """A driver for ``config`` through the provider, as the session layer opens it."""
    options = SessionOptions(
        cwd=cwd,
        emit=recorder,
        env=env or {},
        mcp_servers=mcp_servers,
        resume=resume,
        preamble=preamble,
    )
    driver = ClaudeCodeProvider().open_driver(Agent(provider=config), options)
    assert isinstance(driver, ClaudeDriver)
    return driver


@dataclass
class FakeCli:
    """The fake claude of ``fake_claude.py``, set up in a folder with its scenario."""

    folder: Path
    executable: Path
    log_path: Path

    def write(self, scenario: JSON) -> None:
        (self.folder / "scenario.json").write_text(json.dumps(scenario))

    @property
    def env(self) -> dict[str, str]:
        return {
            "FAKE_CLAUDE_SCENARIO": str(self.folder / "scenario.json"),
            "FAKE_CLAUDE_LOG": str(self.log_path),
        }

    def log(self) -> list[JSON]:
        """What the fake received: its argv and environment first, then stdin messages."""
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def received(self, kind: str) -> list[JSON]:
        return [entry for entry in self.log()[1:] if entry.get("type") == kind]


def make_fake_cli(folder: Path) -> FakeCli:
    """Write a wrapper script running ``fake_claude.py`` with this interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    executable = folder / "fake-claude"
    executable.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_CLAUDE}" "$@"\n')
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    return FakeCli(folder, executable, folder / "log.jsonl")
