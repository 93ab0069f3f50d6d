"""Stop signals held for a step that must not be left halfway (a warm `aegis workflow run`
starting its run): real signals, sent to this process, to handlers of the tests' own
(whatever the process inherited: a background job ignores SIGINT)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from aegis.cli._runtime import GaveUp, hold_stop_signals


@pytest.fixture
def received() -> Iterator[list[int]]:
    """The SIGINTs and SIGTERMs this process receives while the test runs."""
    seen: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    previous = {s: signal.signal(s, record) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield seen
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_ctrl_c_in_the_block_is_reported_and_taken(received: list[int]) -> None:
    with hold_stop_signals() as held:
        os.kill(os.getpid(), signal.SIGINT)
        assert received == []
    assert held.interrupted
    assert received == []  # taken: it does not act later
    os.kill(os.getpid(), signal.SIGINT)
    assert received == [signal.SIGINT]  # and the next one acts as usual


def test_a_block_without_signals_is_not_interrupted(received: list[int]) -> None:
    with hold_stop_signals() as held:
        pass
    assert not held.interrupted
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) & {signal.SIGINT, signal.SIGTERM} == set()


def test_sigterm_in_the_block_acts_once_the_block_has_ended(received: list[int]) -> None:
    with hold_stop_signals() as held:
        os.kill(os.getpid(), signal.SIGTERM)
        assert received == []
    assert received == [signal.SIGTERM]
    assert not held.interrupted


def test_a_second_ctrl_c_in_the_block_gives_up(
    received: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    def press_twice() -> None:
        with hold_stop_signals():
            os.kill(os.getpid(), signal.SIGINT)
            assert "Ctrl+C again stops waiting" in capsys.readouterr().err
            os.kill(os.getpid(), signal.SIGINT)
            raise AssertionError("the second Ctrl+C should have given up")

    with pytest.raises(GaveUp):
        press_twice()
    assert received == []
    os.kill(os.getpid(), signal.SIGINT)
    assert received == [signal.SIGINT]  # the handler before the block is back


def test_ctrl_c_is_taken_in_the_block_even_where_it_was_ignored() -> None:
    # A command started as a background job inherits SIGINT ignored; a person's kill -INT
    # (or Ctrl+C once it is in the foreground) still counts, as in the rest of the command.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with hold_stop_signals() as held:
            os.kill(os.getpid(), signal.SIGINT)
        assert held.interrupted
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
