"""Waiting in a test until something holds: a bound on the test, not a measure of it.

:func:`wait_until` blocks (tests that drive subprocesses, daemons and files);
:func:`until` is for anyio tests, and its condition may also be a coroutine function.
Both fail with an ``AssertionError`` that names what was awaited.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable

import anyio


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Block until ``condition()`` is true, polling every 0.05 s, for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def until(
    condition: Callable[[], object],
    timeout: float = 20.0,
    what: str = "the condition",
    *,
    poll: float = 0.01,
) -> None:
    """Wait until ``condition()`` is true (or what it returns, awaited, is), polling
    every ``poll`` seconds, for ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        while True:
            held = condition()
            if inspect.isawaitable(held):
                held = await held
            if held:
                return
            await anyio.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")
