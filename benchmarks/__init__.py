"""aegis's benchmarks: ``python -m benchmarks [NAME ...] [--json]``.

Each public module of this package is one benchmark. It defines ``run()``, which
measures something and returns a list of :class:`Result`; ``__main__`` runs them
all (or the ones named on the command line) and prints one table. With ``--json``
each benchmark's results are also written to ``benchmarks/results/<name>.json``.
Modules whose names start with ``_`` are helpers, not benchmarks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Result:
    """One measured number."""

    name: str
    """What was measured, e.g. ``"aegis --version: median wall time"``."""
    value: float
    unit: str
    """``"ms"``, ``"MiB"``, ``"x"`` (a ratio), ..."""
    notes: str = ""
    """How it was measured, or how it compares with a goal."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
