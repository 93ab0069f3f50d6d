"""The TUI's transcript with long histories: the cost of one event and of one frame.

A transcript (:class:`aegis_tui.widgets.transcript.TranscriptView`, the Line API
view every tab uses) is filled with ``N`` messages (user messages, Markdown
replies, tool calls with results, in turn), for ``N`` = 100 and 10 000, in a
headless app (``App.run_test``, 120x40). Then, at each size:

* **event**: one canonical event added (a new message, a streamed delta, a tool
  call and its result, in turn) and the view settled (the blocks near the view
  rendered, the layout fixed, the view kept at the end): the median over
  ``EVENTS`` events;
* **frame**: the view scrolled one line up and all its visible lines rendered
  (``render_lines`` of the whole view, what the compositor asks for): the median
  over ``FRAMES`` frames;
* **event + frame, through the app**: an event added, then ``pilot.pause()``
  until the app has processed it and redrawn the screen: the median;
* **open**: filling the view with the ``N`` messages and laying it out once (what
  restoring a tab does after reading its transcript).

The goal: the per-event and per-frame costs do not grow with the transcript's
length; the ``10000 / 100`` ratios say how close they come to 1.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Iterator

from textual.app import App, ComposeResult
from textual.geometry import Region

from aegis.events import (
    AssistantMessage,
    Event,
    TextDelta,
    ToolCall,
    ToolKind,
    ToolResult,
    UserMessage,
)
from aegis_tui.widgets.transcript import TranscriptView
from benchmarks import Result

SIZES = (100, 10_000)
EVENTS = 400
FRAMES = 200
ROUND_TRIPS = 100
TERMINAL = (120, 40)

_REPLY = (
    "Here is what I found:\n\n"
    "- the parser keeps **every** token\n"
    "- `read_records` skips torn lines\n\n"
    "```python\nfor record in read_records(path):\n    print(record)\n```\n"
)


def history(messages: int) -> Iterator[Event]:
    """``messages`` messages of a plausible session, as events (one block per message)."""
    for number in range(messages):
        kind = number % 3
        if kind == 0:
            yield UserMessage(f"message {number}: look at the transcript reader please")
        elif kind == 1:
            yield AssistantMessage(f"Reply {number}. {_REPLY}")
        else:
            call_id = f"call-{number}"
            yield ToolCall(call_id, "Bash", ToolKind.execute, {"command": "ls -la"})
            yield ToolResult(call_id, True, "\n".join(f"file-{i}.py" for i in range(12)))


def live_events() -> Iterator[Event]:
    """An endless stream of events of one more turn after another."""
    number = 0
    while True:
        number += 1
        yield UserMessage(f"live message {number}")
        for word in ("Streaming ", "a ", "reply ", "in ", "deltas."):
            yield TextDelta(word)
        yield AssistantMessage("Streaming a reply in deltas.")
        yield ToolCall(f"live-{number}", "Read", ToolKind.read, {"file_path": "src/app.py"})
        yield ToolResult(f"live-{number}", True, "line one\nline two\nline three\nline four")


class _BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TranscriptView(id="view")


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def _measure(messages: int) -> dict[str, float]:
    app = _BenchApp()
    async with app.run_test(size=TERMINAL) as pilot:
        view = app.query_one(TranscriptView)
        start = time.perf_counter()
        for event in history(messages):
            view.timeline.apply(event)
        view.settle()
        opened = time.perf_counter() - start
        await pilot.pause()
        region = Region(0, 0, view.size.width, view.size.height)

        stream = live_events()
        gc.collect()  # each phase starts without the previous phase's garbage
        per_event: list[float] = []
        for _ in range(EVENTS):
            event = next(stream)
            start = time.perf_counter()
            view.add_event(event)
            view.settle()
            per_event.append(time.perf_counter() - start)
        await pilot.pause()

        gc.collect()
        per_frame: list[float] = []
        view.follow = False
        for _ in range(FRAMES):
            view.scroll_to(y=max(view.scroll_y - 1, 0), animate=False)
            view.settle()
            start = time.perf_counter()
            view.render_lines(region)
            per_frame.append(time.perf_counter() - start)
        view.scroll_end(animate=False)
        view.follow = True
        await pilot.pause()

        gc.collect()
        round_trips: list[float] = []
        for _ in range(ROUND_TRIPS):
            event = next(stream)
            start = time.perf_counter()
            view.add_event(event)
            await pilot.pause()
            round_trips.append(time.perf_counter() - start)
        blocks = len(view.timeline)
    return {
        "event": _median_ms(per_event),
        "frame": _median_ms(per_frame),
        "round_trip": _median_ms(round_trips),
        "open": opened * 1000,
        "blocks": blocks,
    }


def run() -> list[Result]:
    """Measure at each of ``SIZES`` and compare the largest with the smallest."""
    measured = {size: asyncio.run(_measure(size)) for size in SIZES}
    results: list[Result] = []
    for size, numbers in measured.items():
        label = f"{size} messages"
        results += [
            Result(
                f"{label}: one event (add + settle)",
                numbers["event"],
                "ms",
                f"median of {EVENTS}; headless {TERMINAL[0]}x{TERMINAL[1]}",
            ),
            Result(
                f"{label}: one frame (render the view)",
                numbers["frame"],
                "ms",
                f"median of {FRAMES}, each scrolled one line",
            ),
            Result(
                f"{label}: event + frame through the app",
                numbers["round_trip"],
                "ms",
                f"median of {ROUND_TRIPS}: add_event, then pilot.pause()",
            ),
            Result(
                f"{label}: open (fill + first layout)",
                numbers["open"],
                "ms",
                f"{int(numbers['blocks'])} blocks at the end of the run",
            ),
        ]
    small, large = measured[SIZES[0]], measured[SIZES[-1]]
    for key, what in (("event", "one event"), ("frame", "one frame"), ("round_trip", "round trip")):
        ratio = large[key] / small[key] if small[key] else float("inf")
        verdict = "flat" if ratio < 1.5 else "GROWS"
        results.append(
            Result(
                f"{what}: {SIZES[-1]} / {SIZES[0]} messages",
                ratio,
                "x",
                f"{verdict} ({large[key]:.3f} ms vs {small[key]:.3f} ms)",
            )
        )
    return results
