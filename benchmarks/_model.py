"""The fake model of the session benchmarks, served from a process of its own.

``aegis.testing.fakemodel.FakeModelServer`` serves from a thread. In the benchmark
process that thread would compete for the GIL with what is measured (aegis's event
loop, the raw clients' reader threads), so it runs here, in a child process::

    with model_server() as url:
        ...  # point the CLIs at url

Run as ``python -m benchmarks._model``: it prints the server's URL on one line,
then serves until its stdin closes. Every CLI gets the same scripted reply to
:data:`PROMPT` (:data:`REPLY`, streamed in :data:`CHUNKS` pieces); anything else
is echoed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROMPT = "benchmark turn: summarise the plan in two sentences"
"""The user message of every measured turn."""
REPLY = (
    "The plan has two steps: first we read the failing test and the module it covers, "
    "then we change the parser so that a torn last line is skipped instead of raising. "
    "Nothing else in the package needs to move, and the existing tests keep passing."
)
"""The model's reply to :data:`PROMPT` (about 50 words)."""
CHUNKS = 8
"""Into how many streamed pieces the fake model cuts :data:`REPLY`."""


@contextmanager
def model_server() -> Iterator[str]:
    """Start the fake model in a child process; yield its URL; stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._model"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the fake model did not start (it said {url!r})")
        yield url
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _serve() -> None:
    from aegis.testing.fakemodel import FakeModelServer, Reply, Script

    script = Script().on(PROMPT, Reply(text=REPLY, chunks=CHUNKS))
    with FakeModelServer(script) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin


if __name__ == "__main__":
    _serve()
