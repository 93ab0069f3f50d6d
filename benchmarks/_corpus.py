"""The translation benchmark's input: lines the real CLIs print, captured live.

One turn is captured from each CLI against the in-process fake model, with the
raw clients of ``benchmarks._raw`` (started the way aegis starts them). The turn
has what a working turn has: thinking, a short text, a shell tool call, its
result, then a longer answer streamed in :data:`ANSWER_CHUNKS` pieces, and usage:

* claude (stream-json, ``--include-partial-messages``): every stdout line of the
  turn that ``ClaudeDriver`` hands its ``Translator`` (all but ``control_*`` and
  ``command_lifecycle``, which the driver keeps to itself);
* gemini and opencode (ACP): the turn's ``session/update`` notification lines.

The lines are decoded by the raw clients, so they are written back compactly
(``json.dumps`` with ``(",", ":")`` separators, as node's ``JSON.stringify``
prints them); only whitespace can differ from what the CLI printed.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, shell_call
from benchmarks._raw import Name, raw_starter
from tests.support.rawclients import AcpRawSession, RawSession

PROMPT = "benchmark translation: list the files, then explain what you found"
THINKING = (
    "The user wants the files listed first. I will run ls in the project folder, read "
    "its output, and then explain briefly what each entry is for."
)
ANSWER = " ".join(
    [
        "The project holds a small Python package and its tests.",
        "The src folder has the parser, the command-line entry point and a helper for",
        "reading configuration; tests mirror that layout with one module per source file.",
        "There is a pyproject.toml declaring the build backend and the dependencies,",
        "a README explaining how to run the tool, and a Makefile with targets for",
        "linting, testing and building the wheel. Nothing looks generated or out of date,",
        "and no large data files are checked in, so the repository is cheap to clone.",
    ]
)
ANSWER_CHUNKS = 40
"""Pieces the answer streams in (a real model streams a few words per delta)."""

_SKIPPED_CLAUDE = ("control_response", "control_request", "command_lifecycle")


@dataclass(frozen=True)
class Capture:
    """One captured turn: the lines a translator is given, in order."""

    name: Name
    lines: list[str]


def _script() -> Script:
    def first(request: ModelRequest) -> Reply:
        return Reply(
            thinking=THINKING,
            text="Let me list the files first.",
            tool_calls=[shell_call(request, "ls -la")],
        )

    def after_tool(request: ModelRequest) -> Reply:
        return Reply(text=ANSWER, chunks=ANSWER_CHUNKS)

    return Script().on(lambda r: bool(r.tool_results), after_tool).on(PROMPT, first)


def capture(names: tuple[Name, ...] = ("claude", "gemini", "opencode")) -> list[Capture]:
    """Capture one turn of each CLI in ``names``."""
    captures: list[Capture] = []
    with (
        FakeModelServer(_script()) as server,
        tempfile.TemporaryDirectory(prefix="aegis-bench-corpus-") as tmp,
    ):
        for name in names:
            session = raw_starter(name, Path(tmp) / name, server.url)()
            try:
                captures.append(Capture(name, _turn_lines(name, session)))
            finally:
                session.close()
    return captures


def _turn_lines(name: Name, session: RawSession) -> list[str]:
    if isinstance(session, AcpRawSession):
        # Every notification of the turn, as the agent sent it (the raw client keeps them).
        first = len(session.client.notifications)
        session.turn(PROMPT, timeout=120.0)
        notifications = session.client.notifications[first:]
        return [_dump(n) for n in notifications if n.get("method") == "session/update"]
    turn = session.turn(PROMPT, timeout=120.0)
    return [_dump(m) for m in turn.events if m.get("type") not in _SKIPPED_CLAUDE]


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
