"""Helpers of the state-on-disk tests: a project on the offline agent, run as a user would."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import disk
from tests.fixtures.fakes import aegis_in

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue
from aegis.workflow import workflow

agents = {"offline": Agent(provider=Scripted(rules=[ScriptRule(match="hello", reply="hi there")]))}
default_agent = "offline"
queues = [Queue("work", agent_profile="offline", max_parallel=1)]


@workflow
async def greet(engine) -> str:
    handle = await engine.spawn("offline")
    return await engine.ask(handle, "hello")
"""


def aegis(
    root: Path, *args: str, umask: int = 0o022, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``aegis ARGS`` in ``root`` as a user would, under ``umask``."""
    return aegis_in(root, *args, timeout=timeout, umask=umask)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / ".aegis.py").write_text(CONFIG)
    return root


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for one test: a disk that really fills up (needs root)."""
    with disk.small_disk(tmp_path / "disk", "4m") as folder:
        yield folder
