"""Measuring short-lived child processes: wall time and peak memory of each run.

The peak RSS of a child is the ``ru_maxrss`` that ``os.wait4`` returns when it
reaps it. That number is only the child's own if the child was forked from a
*small* process: Linux folds the memory high-water mark of the address space a
process leaves behind at ``exec`` into its ``ru_maxrss``. ``subprocess.Popen``
forks with ``vfork`` (the child borrows the parent's address space until it
execs), so every child it starts reports at least the parent's own peak: a
benchmark process that once held 200 MiB sees ``python -c pass`` "use" 200 MiB.

So the runs are made by a :class:`Launcher`: a separate, minimal interpreter
(``python -S -I``, importing nothing but ``os``, ``sys`` and ``time``) that
forks and execs each command, times it from the fork to the reaping,
and reports the ``os.wait4`` usage of that child. A plain ``fork`` copies only the
launcher's anonymous memory (a few MiB), well below any Python process measured;
:meth:`Launcher.floor_mib` measures that floor (the peak RSS ``/bin/true`` shows).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

# Runs one command per input line (arguments separated by NUL); answers with
# "<wall ns> <ru_maxrss> <exit status>" per line. Kept tiny on purpose.
_LAUNCHER = r"""
import os, sys, time
null = os.open(os.devnull, os.O_RDWR)
for line in sys.stdin:
    argv = line.rstrip("\n").split("\0")
    start = time.perf_counter_ns()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(null, 0); os.dup2(null, 1); os.dup2(null, 2)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter_ns() - start
    sys.stdout.write(f"{wall} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\n")
    sys.stdout.flush()
"""

# ru_maxrss is in KiB on Linux, in bytes on macOS.
_RSS_TO_MIB = 1 / (1024 * 1024) if sys.platform == "darwin" else 1 / 1024


@dataclass(frozen=True)
class Run:
    """One run of a command."""

    wall_ms: float
    """From just before the fork to the child being reaped."""
    max_rss_mib: float
    """The child's peak resident set size (``ru_maxrss`` from ``os.wait4``)."""


@dataclass
class Samples:
    """The runs of one command."""

    label: str
    argv: Sequence[str]
    runs: list[Run] = field(default_factory=list)

    @property
    def wall_ms(self) -> list[float]:
        return [run.wall_ms for run in self.runs]

    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)

    def p90_ms(self) -> float:
        return percentile(self.wall_ms, 90)

    def peak_rss_mib(self) -> float:
        """The highest peak RSS of all runs."""
        return max(run.max_rss_mib for run in self.runs)


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile, interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def venv_bin() -> Path:
    """The folder of the running interpreter: the venv's ``bin`` under ``make bench``."""
    return Path(sys.executable).parent


class Launcher:
    """A minimal interpreter that runs commands for us and measures each run.

    Every command runs with the launcher's working directory and environment;
    its input and output are ``/dev/null``.
    """

    def __init__(self, *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-I", "-c", _LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env=dict(env) if env is not None else None,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the launcher has no pipes")
        return stdin, stdout

    def run(self, argv: Sequence[str]) -> Run:
        """Run ``argv`` once; fail if it exits with a non-zero status."""
        if any("\0" in arg or "\n" in arg for arg in argv):
            raise ValueError(f"arguments must not hold NUL or newline: {argv!r}")
        stdin, stdout = self._pipes()
        stdin.write("\0".join(argv) + "\n")
        stdin.flush()
        answer = stdout.readline()
        if not answer:
            raise RuntimeError(f"the launcher died (status {self._process.poll()})")
        wall_ns, max_rss, status = (int(part) for part in answer.split())
        if status != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with status {status}")
        return Run(wall_ms=wall_ns / 1e6, max_rss_mib=max_rss * _RSS_TO_MIB)

    def floor_mib(self) -> float:
        """The peak RSS a do-nothing program shows: the lowest this method can report."""
        true = shutil.which("true") or "/bin/true"
        return max(self.run([true]).max_rss_mib for _ in range(3))


def compare(launcher: Launcher, commands: Sequence[Samples], *, runs: int, warmups: int) -> None:
    """Warm each command up, then run them in turn, ``runs`` rounds of one run each.

    Alternating the commands spreads any drift of the machine (another process,
    frequency scaling, caches) over all of them instead of over one.
    """
    for samples in commands:
        for _ in range(warmups):
            launcher.run(samples.argv)
    for _ in range(runs):
        for samples in commands:
            samples.runs.append(launcher.run(samples.argv))
