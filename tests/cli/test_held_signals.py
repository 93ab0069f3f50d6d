"""Stop signals held for a step that must not be left halfway (a warm `aegis workflow run`
starting its run): real signals, sent to this process."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from aegis.cli._runtime import hold_stop_signals


@pytest.fixture
def terms() -> Iterator[list[int]]:
    """SIGTERMs this process receives (a handler of the test's own meanwhile)."""
    seen: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, record)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_ctrl_c_in_the_block_is_reported_not_raised() -> None:
    with hold_stop_signals() as held:
        os.kill(os.getpid(), signal.SIGINT)
    assert held.interrupted
    # Taken: it does not act later; and the next Ctrl+C acts as usual again.
    with pytest.raises(KeyboardInterrupt):
        ctrl_c_then_wait()


def ctrl_c_then_wait() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)  # cut short by the handler


def test_a_block_without_signals_is_not_interrupted() -> None:
    with hold_stop_signals() as held:
        pass
    assert not held.interrupted
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) & {signal.SIGINT, signal.SIGTERM} == set()


def test_sigterm_in_the_block_acts_once_the_block_has_ended(terms: list[int]) -> None:
    with hold_stop_signals() as held:
        os.kill(os.getpid(), signal.SIGTERM)
        assert terms == []
    assert terms == [signal.SIGTERM]
    assert not held.interrupted
