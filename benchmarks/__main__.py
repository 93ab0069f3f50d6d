"""Run the benchmarks and print their results as one table.

python -m benchmarks                 # every benchmark
python -m benchmarks startup         # only these
python -m benchmarks --json          # also write benchmarks/results/<name>.json
python -m benchmarks --list          # the benchmarks there are
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import pkgutil
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import benchmarks
from benchmarks import Result

RESULTS_DIR = Path(__file__).parent / "results"

Benchmark = Callable[[], list[Result]]


def available() -> list[str]:
    """The benchmark modules of this package (helpers start with ``_``)."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(benchmarks.__path__)
        if not info.name.startswith("_")
    )


def load(name: str) -> Benchmark:
    module = importlib.import_module(f"benchmarks.{name}")
    run = getattr(module, "run", None)
    if not callable(run):
        raise SystemExit(f"benchmarks.{name} has no run() function")
    return cast(Benchmark, run)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _commit() -> str | None:
    """The commit of the working tree, with ``+dirty`` when it has changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+dirty" if status.strip() else head


def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy it was."""
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "load_average_1min": _load_average(),
        "commit": _commit(),
    }


def _format(value: float, unit: str) -> str:
    return f"{value:.2f}" if unit == "x" else f"{value:.1f}"


def print_table(rows: Sequence[tuple[str, Result]]) -> None:
    headers = ("BENCHMARK", "RESULT", "VALUE", "UNIT", "NOTES")
    cells = [(bench, r.name, _format(r.value, r.unit), r.unit, r.notes) for bench, r in rows]
    widths = [max(len(row[i]) for row in [headers, *cells]) for i in range(len(headers))]
    for row in [headers, *cells]:
        line = "  ".join(
            cell.rjust(width) if i == 2 and row is not headers else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        print(line.rstrip())


def write_json(name: str, results: list[Result], when: str, host: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    data = {
        "benchmark": name,
        "date": when,
        "machine": host,
        "results": [result.as_dict() for result in results],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument(
        "--json", action="store_true", help=f"also write {RESULTS_DIR.name}/<name>.json"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    names = available()
    if args.list:
        print("\n".join(names))
        return 0
    unknown = [name for name in args.names if name not in names]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (there are: {', '.join(names)})")
    selected = args.names or names

    when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    host = machine()
    print(
        f"# {when} on {host['cpu']}, {host['cores']} cores, {host['memory_gib']} GiB, "
        f"{host['implementation']} {host['python']} ({sys.executable}); "
        f"load {host['load_average_1min']}; commit {host['commit']}",
        flush=True,
    )
    rows: list[tuple[str, Result]] = []
    written: list[Path] = []
    for name in selected:
        print(f"# running {name} ...", file=sys.stderr, flush=True)
        results = load(name)()
        rows += [(name, result) for result in results]
        if args.json:
            written.append(write_json(name, results, when, host))
    print_table(rows)
    for path in written:
        print(f"# wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
