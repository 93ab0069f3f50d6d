"""`make setup` (so `make demo` and `make tui`) installs what a user runs, not the tests' extras."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.fakes import clean_env

ROOT = Path(__file__).resolve().parents[2]


def setup_commands() -> list[str]:
    """The commands `make setup` runs (the `uv` target's are skipped: uv is here)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    done = subprocess.run(
        ["make", "-s", "-n", "setup"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return [line for line in done.stdout.splitlines() if " sync " in line]


@pytest.mark.slow
def test_make_setup_leaves_the_example_provider_out_of_aegis_providers(tmp_path: Path) -> None:
    [sync] = setup_commands()
    venv = tmp_path / "venv"
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        UV_PROJECT_ENVIRONMENT=str(venv),  # a venv of its own, from the same lock file
        UV_OFFLINE="1",  # everything is in uv's cache since the test venv was made
    )
    subprocess.run(shlex.split(sync), cwd=ROOT, env=env, check=True, capture_output=True)

    done = subprocess.run(
        [str(venv / "bin" / "aegis"), "providers", "--json"],
        cwd=tmp_path,
        env=clean_env(home=tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    names = {provider["name"] for provider in json.loads(done.stdout)["providers"]}
    assert {"scripted", "claude-code", "gemini", "opencode"} <= names
    assert "example" not in names
