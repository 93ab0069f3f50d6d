"""Where aegis's per-turn time goes: ``python -m benchmarks._breakdown [PROVIDER] [BLOCKS]``.

Not a benchmark of the suite (it reaches into ``SessionManager`` internals, so it
may break when they change): the experiment behind the analysis in
``docs/benchmarks.md``. On one aegis session per variant and one raw session of
``PROVIDER`` (default ``scripted``), blocks of ``BLOCK`` turns run in turn for each
variant, ``BLOCKS`` times (after one warm-up block each):

* ``aegis``: as shipped;
* ``no transcript``: the session's event sink only feeds subscribers: no transcript
  record is made, nothing goes to the writer task;
* ``records only``: records are made (``transcript.record``) but not written;
* ``sync write``: records are made and appended at once, on the event loop, without
  the writer task and its thread;
* ``raw``: the raw client of ``benchmarks._raw``.

It prints the median and p90 per variant, in ms.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from aegis.events import Event
from aegis.session import SessionManager
from aegis.session.session import Session
from aegis.session.transcript import TranscriptFile, record
from benchmarks._model import PROMPT, model_server
from benchmarks._raw import Name, raw_starter
from benchmarks._stats import median, p90
from benchmarks.turns import RULES, _profile

BLOCK = 10
VARIANTS = ("aegis", "no transcript", "records only", "sync write", "raw")

Sink = Callable[[Session, Event], None]


def _sinks(sessions: SessionManager, session: Session, scratch: Path) -> dict[str, Sink]:
    shipped = session._sink
    file = TranscriptFile(scratch)

    def subscribers(s: Session, event: Event) -> None:
        for wanted, send in sessions._subscribers:
            if wanted is None or wanted == s.handle:
                send.send_nowait((s.handle, event))

    def records_only(s: Session, event: Event) -> None:
        record(event, s.seq)
        subscribers(s, event)

    def sync_write(s: Session, event: Event) -> None:
        file.append([record(event, s.seq)])
        subscribers(s, event)

    return {
        "aegis": shipped,
        "no transcript": subscribers,
        "records only": records_only,
        "sync write": sync_write,
    }


async def _breakdown(name: Name, blocks: int, tmp: Path, url: str) -> dict[str, list[float]]:
    agent, env = _profile(name, tmp / "aegis", url)
    raw = raw_starter(name, tmp / "raw", url, RULES)()
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    try:
        async with SessionManager(
            {"b": agent}, root=tmp / "aegis" / "project", env=env
        ) as sessions:
            # One session per variant: every session (and the raw one) has as many turns
            # behind it, which matters to a CLI whose turns grow with the conversation.
            handles: dict[str, str] = {}
            for variant in VARIANTS[:-1]:
                handles[variant] = await sessions.spawn("b")
                session = sessions._sessions[handles[variant]]
                session._sink = _sinks(sessions, session, tmp / f"{variant}.jsonl")[variant]
            for block in range(blocks + 1):
                for variant in VARIANTS:
                    for _ in range(BLOCK):
                        start = time.perf_counter()
                        if variant == "raw":
                            raw.turn(PROMPT)
                        else:
                            await sessions.request(handles[variant], PROMPT)
                        if block:
                            times[variant].append((time.perf_counter() - start) * 1000)
                    # The transcript work of a block is done before the next block starts.
                    await sessions.flush_transcripts()
    finally:
        raw.close()
    return times


def main() -> None:
    name: Name = sys.argv[1] if len(sys.argv) > 1 else "scripted"  # type: ignore[assignment]
    blocks = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    with model_server() as url, tempfile.TemporaryDirectory(prefix="aegis-bench-") as tmp:
        times = anyio.run(_breakdown, name, blocks, Path(tmp), url)
    for variant, values in times.items():
        print(f"{name:9s} {variant:14s} median {median(values):8.3f} ms  p90 {p90(values):8.3f} ms")


if __name__ == "__main__":
    main()
