"""Daemons started by tests, in temporary projects, on the offline ``scripted`` provider."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aegis.daemon.lock import holder
from aegis.daemon.protocol import lock_path
from tests.fixtures.fakes import aegis_in

CONFIG = """
from aegis.builtins.scripted import Scripted, ScriptRule
from aegis.config import Agent
from aegis.queue import Queue

agents = {
    "offline": Agent(provider=Scripted(rules=[
        ScriptRule(match="^hello$", reply="hi there"),
        ScriptRule(match="^slow$", reply="late", delay=60),
        ScriptRule(match="^count (\\\\d+)$", reply="counted {1}, one two three four five"),
    ])),
}
default_agent = "offline"
queues = [Queue("work", agent_profile="offline", max_parallel=2)]
"""


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope, so that a module's tests can share one daemon and one event loop.
    return "asyncio"


def make_project(folder: Path, config: str = CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".aegis.py").write_text(config)
    return folder


def aegis(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``aegis ARGS`` in ``project`` (its own HOME, no developer settings)."""
    return aegis_in(project, *args, timeout=timeout)


def daemon_pid(project: Path) -> int | None:
    """The pid of the daemon holding the project's lock, or None."""
    return holder(lock_path(project / ".aegis"))


def start_daemon(project: Path, *args: str) -> int:
    done = aegis(project, "daemon", "start", *args)
    assert done.returncode == 0, done.stderr
    pid = daemon_pid(project)
    assert pid, done.stdout
    return pid


def stop_daemon(project: Path) -> None:
    if daemon_pid(project) is not None:
        done = aegis(project, "daemon", "stop")
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project whose daemon runs for the whole module (stopped at the end)."""
    folder = make_project(tmp_path_factory.mktemp("daemon") / "project")
    start_daemon(folder)
    yield folder
    stop_daemon(folder)
