"""Start-up of the ``aegis`` console script, against a bare interpreter.

Three commands, run alternately (``RUNS`` rounds after ``WARMUPS`` warm-ups each):

* ``python -c pass``: the floor, the venv's own interpreter doing nothing;
* ``aegis --version``: the console script of the same venv; it imports click and
  ``aegis.cli`` only (no pydantic, no plugins);
* ``aegis --help``: loads every installed plugin to list their commands.

The goal is ``aegis --version`` under 150 ms (the best-known comparable tool takes
about 1.6 s and 95 MiB).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from benchmarks import Result
from benchmarks._process import Launcher, Samples, compare, venv_bin

RUNS = 30
WARMUPS = 3
GOAL_MS = 150.0


def _env() -> dict[str, str]:
    """The environment of the runs: ours, without aegis's own settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AEGIS_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with byte-code caches, as users run
    return env


def run(runs: int = RUNS, warmups: int = WARMUPS) -> list[Result]:
    aegis = venv_bin() / "aegis"
    if not aegis.exists():
        raise RuntimeError(f"{aegis} not found: run `make setup` first")
    python = Samples("python -c pass", [sys.executable, "-c", "pass"])
    version = Samples("aegis --version", [str(aegis), "--version"])
    help_ = Samples("aegis --help", [str(aegis), "--help"])
    commands = [python, version, help_]
    # An empty folder: no .aegis.py above it can change what is measured.
    with (
        tempfile.TemporaryDirectory(prefix="aegis-bench-") as folder,
        Launcher(cwd=Path(folder), env=_env()) as launcher,
    ):
        floor = launcher.floor_mib()
        compare(launcher, commands, runs=runs, warmups=warmups)

    how = f"{runs} runs after {warmups} warm-ups, alternating"
    rss = f"max over runs, os.wait4 ru_maxrss (floor of the method: {floor:.1f} MiB)"
    results: list[Result] = []
    for samples in commands:
        results += [
            Result(f"{samples.label}: median", samples.median_ms(), "ms", how),
            Result(f"{samples.label}: p90", samples.p90_ms(), "ms", how),
            Result(f"{samples.label}: peak RSS", samples.peak_rss_mib(), "MiB", rss),
        ]
    bare = python.median_ms()
    for samples in (version, help_):
        results.append(
            Result(
                f"{samples.label} / python -c pass",
                samples.median_ms() / bare,
                "x",
                f"ratio of medians; {samples.median_ms() - bare:.1f} ms above the interpreter",
            )
        )
    met = "met" if version.median_ms() < GOAL_MS else "NOT met"
    results.append(
        Result(
            "aegis --version: goal",
            GOAL_MS,
            "ms",
            f"{met}: median {version.median_ms():.1f} ms, p90 {version.p90_ms():.1f} ms",
        )
    )
    return results
