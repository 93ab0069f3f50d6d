"""How fast the protocol translators turn CLI output into canonical events.

Two translators, each over a corpus of about ``CORPUS_LINES`` lines held in memory:

* **claude**: ``aegis_claude.translate.Translator.feed`` over Claude Code's
  stream-json lines (what ``ClaudeDriver`` hands it; ``begin_turn`` at each turn);
* **acp**: ``aegis.acp.translate.UpdateTranslator.handle`` over ``session/update``
  notifications, gemini's and opencode's turns in turn (``begin_turn`` and
  ``end_turn`` around each).

The corpus is one turn captured live from each real CLI (``benchmarks._corpus``:
thinking, text deltas, a shell tool call and its result, a streamed answer, usage),
repeated. Per corpus and round, three passes, interleaved:

* ``json.loads`` of every line (the floor: any client must decode the lines);
* ``translate``: the translator fed the already decoded messages;
* ``json.loads + translate``: both, as a driver does per line.

``ROUNDS`` rounds after ``WARMUPS``; the medians (and p90 of pass times) are
reported as events/s (canonical events produced) and lines/s, with the ratios
``translate / json.loads`` (cost of translating relative to decoding) and the
throughput of ``json.loads + translate`` relative to ``json.loads`` alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aegis.acp.translate import UpdateTranslator
from aegis.events import Event
from aegis_claude.translate import Translator
from benchmarks import Result
from benchmarks._corpus import Capture, capture
from benchmarks._raw import Name
from benchmarks._stats import load_result, median, p90

CORPUS_LINES = 50_000
ROUNDS = 9
WARMUPS = 2

Turns = list[list[Any]]
"""A corpus: its turns, each a list of lines (``str``) or of decoded messages."""


@dataclass
class Corpus:
    """One translator's input, raw and decoded, and how to translate it."""

    label: str
    lines: Turns
    decoded: Turns
    translate: Callable[[Turns], int]
    """Feeds decoded turns to a fresh translator; returns the number of events."""
    decode_translate: Callable[[Turns], int]
    """Decodes each line of raw turns and feeds it; returns the number of events."""
    times: dict[str, list[float]] = field(default_factory=dict)
    events: int = 0

    @property
    def line_count(self) -> int:
        return sum(len(turn) for turn in self.lines)


def run() -> list[Result]:
    captures = {c.name: c for c in capture()}
    corpora = [_claude_corpus(captures["claude"]), _acp_corpus(captures)]
    for index in range(WARMUPS + ROUNDS):
        for corpus in corpora:
            _round(corpus, keep=index >= WARMUPS)
    results: list[Result] = []
    for corpus in corpora:
        results += _report(corpus)
    return [*results, load_result()]


# --- the corpora ---------------------------------------------------------------------------


def _repeat(turns: list[list[str]], head: list[str]) -> list[list[str]]:
    """``head`` (once), then ``turns`` in turn until the corpus has ``CORPUS_LINES`` lines."""
    corpus = [head] if head else []
    count = len(head)
    while count < CORPUS_LINES:
        for turn in turns:
            corpus.append(turn)
            count += len(turn)
    return corpus


def _claude_corpus(turn: Capture) -> Corpus:
    lines = _repeat([turn.lines], [])
    return Corpus(
        "claude stream-json",
        lines,
        [[json.loads(line) for line in t] for t in lines],
        _claude_translate,
        _claude_decode_translate,
    )


def _acp_corpus(captures: dict[Name, Capture]) -> Corpus:
    # available_commands_update comes once per session, not per turn: kept once.
    def once(line: str) -> bool:
        return '"sessionUpdate":"available_commands_update"' in line

    turns = [[x for x in captures[n].lines if not once(x)] for n in ("gemini", "opencode")]
    head = [x for n in ("gemini", "opencode") for x in captures[n].lines if once(x)]
    lines = _repeat(turns, head)
    return Corpus(
        "acp session/update",
        lines,
        [[json.loads(line) for line in t] for t in lines],
        _acp_translate,
        _acp_decode_translate,
    )


# --- the translations ----------------------------------------------------------------------


def _claude_translate(turns: Turns) -> int:
    translator, count = Translator(), 0
    for turn in turns:
        translator.begin_turn()
        for message in turn:
            count += len(translator.feed(message))
    return count


def _claude_decode_translate(turns: Turns) -> int:
    translator, count = Translator(), 0
    for turn in turns:
        translator.begin_turn()
        for line in turn:
            count += len(translator.feed(json.loads(line)))
    return count


def _acp_translate(turns: Turns) -> int:
    events: list[Event] = []
    translator, count = UpdateTranslator(events.append), 0
    for turn in turns:
        translator.begin_turn()
        for message in turn:
            translator.handle(message["params"]["update"])
        translator.end_turn()
        count += len(events)
        events.clear()
    return count


def _acp_decode_translate(turns: Turns) -> int:
    events: list[Event] = []
    translator, count = UpdateTranslator(events.append), 0
    for turn in turns:
        translator.begin_turn()
        for line in turn:
            translator.handle(json.loads(line)["params"]["update"])
        translator.end_turn()
        count += len(events)
        events.clear()
    return count


def _decode(turns: Turns) -> int:
    for turn in turns:
        for line in turn:
            json.loads(line)
    return 0


# --- measuring and reporting ---------------------------------------------------------------


def _round(corpus: Corpus, *, keep: bool) -> None:
    passes: list[tuple[str, Callable[[Turns], int], Turns]] = [
        ("json.loads", _decode, corpus.lines),
        ("translate", corpus.translate, corpus.decoded),
        ("json.loads + translate", corpus.decode_translate, corpus.lines),
    ]
    for label, action, turns in passes:
        start = time.perf_counter()
        events = action(turns)
        elapsed = time.perf_counter() - start
        if label == "translate":
            corpus.events = events
        if keep:
            corpus.times.setdefault(label, []).append(elapsed)


def _report(corpus: Corpus) -> list[Result]:
    lines, events = corpus.line_count, corpus.events
    how = f"{lines} lines, {events} events per pass; median of {ROUNDS} passes"
    loads = median(corpus.times["json.loads"])
    results = [
        Result(
            f"{corpus.label}: json.loads", lines / loads, "lines/s", _spread(corpus, "json.loads")
        )
    ]
    for label in ("translate", "json.loads + translate"):
        seconds = median(corpus.times[label])
        results.append(
            Result(
                f"{corpus.label}: {label}",
                events / seconds,
                "events/s",
                f"{lines / seconds:,.0f} lines/s; {_spread(corpus, label)}",
            )
        )
    translate = median(corpus.times["translate"])
    both = median(corpus.times["json.loads + translate"])
    results += [
        Result(
            f"{corpus.label}: translate / json.loads",
            translate / loads,
            "x",
            f"time of translating relative to decoding the same lines; {how}",
        ),
        Result(
            f"{corpus.label}: (json.loads + translate) / json.loads",
            loads / both,
            "x",
            "throughput of decoding and translating relative to decoding alone",
        ),
    ]
    return results


def _spread(corpus: Corpus, label: str) -> str:
    times = corpus.times[label]
    return f"pass {median(times) * 1000:.0f} ms median, {p90(times) * 1000:.0f} ms p90"
