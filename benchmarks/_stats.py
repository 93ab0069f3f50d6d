"""Statistics shared by the session and queue benchmarks: medians, p90, overheads.

An overhead is ``median(aegis) / median(raw) - 1``. Its spread is a bootstrap
interval: the rounds (one aegis sample and one raw sample each, measured back to
back) are resampled with replacement and the overhead recomputed, and the 5th
and 95th percentiles of those give a 90 % interval. Pairing by round keeps the
machine's drift (other work on a shared box) out of the interval as far as it can.
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks import Result
from benchmarks._process import percentile

BOOTSTRAP_SAMPLES = 2000


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p90(values: Sequence[float]) -> float:
    return percentile(values, 90)


@dataclass(frozen=True)
class Overhead:
    """How much slower the aegis samples are than the raw ones (ratio of medians - 1)."""

    pct: float
    low_pct: float
    """The 5th percentile of the bootstrap (the low end of a 90 % interval)."""
    high_pct: float
    """The 95th percentile of the bootstrap."""
    paired_ms: float
    """The median of the per-round differences ``aegis - raw``, in ms."""

    def describe(self) -> str:
        return (
            f"{self.pct:+.1f} % (90 % bootstrap interval {self.low_pct:+.1f} .. "
            f"{self.high_pct:+.1f} %; median paired difference {self.paired_ms:+.2f} ms)"
        )


def overhead(aegis_ms: Sequence[float], raw_ms: Sequence[float], seed: int = 1) -> Overhead:
    """The overhead of ``aegis_ms`` over ``raw_ms``, paired by index (one round each)."""
    if len(aegis_ms) != len(raw_ms) or not aegis_ms:
        raise ValueError("need as many aegis samples as raw samples, at least one")
    pairs = list(zip(aegis_ms, raw_ms, strict=True))
    rng = random.Random(seed)
    boot: list[float] = []
    for _ in range(BOOTSTRAP_SAMPLES):
        sample = rng.choices(pairs, k=len(pairs))
        boot.append(_pct(median([a for a, _ in sample]), median([r for _, r in sample])))
    return Overhead(
        pct=_pct(median(aegis_ms), median(raw_ms)),
        low_pct=percentile(boot, 5),
        high_pct=percentile(boot, 95),
        paired_ms=median([a - r for a, r in pairs]),
    )


def _pct(aegis: float, raw: float) -> float:
    return (aegis / raw - 1.0) * 100.0


def load_result() -> Result:
    """The machine's 1-minute load average now (at a benchmark's end), as a result row."""
    return Result(
        "machine load at the end (1-min average)",
        os.getloadavg()[0],
        "load",
        f"{os.cpu_count()} cores; the machine is shared, so read the numbers above with it",
    )
