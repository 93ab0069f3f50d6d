"""Running an async command: one event loop, signals turned into cancellation.

SIGINT (Ctrl+C), SIGTERM and SIGHUP (the terminal closed, the ssh connection
lost) cancel the command's task group, so that every session closes and every
CLI process group is stopped on the way out, exactly as on a normal exit. The
handlers stay installed until the command has finished stopping: a second
signal during the stop (which gives running queue tasks their grace) is
ignored instead of killing aegis halfway. A command may take SIGINT for itself
(``aegis chat`` uses it to interrupt the turn) by passing ``on_sigint``, which
returns ``True`` when it handled the signal, and any stop signal by passing
``on_stop`` (``aegis worker`` drains on the first, interrupts on the second).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import anyio

EXIT_SIGHUP = 129
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
STOP_SIGNALS = {
    signal.SIGHUP: EXIT_SIGHUP,
    signal.SIGINT: EXIT_SIGINT,
    signal.SIGTERM: EXIT_SIGTERM,
}
"""The signals that stop a command, and the exit status each gives (128 + its number)."""


def run_command(
    main: Callable[[], Awaitable[int]],
    *,
    on_sigint: Callable[[], Awaitable[bool]] | None = None,
    on_stop: Callable[[signal.Signals], Awaitable[bool]] | None = None,
) -> int:
    """Run ``main`` on a fresh event loop; return its exit status (or 129/130/143 on a signal)."""

    async def runner() -> int:
        status = 0
        # Open around the task group, so that the handlers outlive the watcher: a
        # signal that comes while the command stops is taken here and dropped.
        with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
            async with anyio.create_task_group() as tg:

                async def watch_signals() -> None:
                    nonlocal status
                    async for signum in signals:
                        if signum == signal.SIGINT and on_sigint is not None and await on_sigint():
                            continue
                        if on_stop is not None and await on_stop(signal.Signals(signum)):
                            continue
                        status = STOP_SIGNALS[signal.Signals(signum)]
                        tg.cancel_scope.cancel()
                        return

                async def run_main() -> None:
                    nonlocal status
                    status = await main()
                    tg.cancel_scope.cancel()

                tg.start_soon(watch_signals)
                tg.start_soon(run_main)
        return status

    try:
        return anyio.run(runner)
    except BaseExceptionGroup as group:
        # A command's error comes out of its task groups wrapped, once per level. The
        # commands catch the errors they can explain (a ConfigError, an unknown task,
        # a timeout): give them the error itself when it is the only one.
        error = only_error(group)
        if error is None:
            raise
        raise error from None


def only_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The single exception inside ``group`` (however nested), or None if there are more."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    return leaves[0] if len(leaves) == 1 else None


class HeldSignals:
    """What came while :func:`hold_stop_signals` held the stop signals."""

    def __init__(self) -> None:
        self.interrupted = False
        """Whether a SIGINT (Ctrl+C) came; it was taken, and will not act."""


class GaveUp(KeyboardInterrupt):
    """A second Ctrl+C while :func:`hold_stop_signals` held the first: stop waiting."""


HELD_NOTE = "waiting for the aegis daemon's answer; Ctrl+C again stops waiting"
"""Said at the first Ctrl+C in a held step (a step of milliseconds that takes longer)."""


@contextmanager
def hold_stop_signals() -> Iterator[HeldSignals]:
    """Hold SIGINT, SIGTERM and SIGHUP for the block, so that none cuts it short.

    For a step that must not be left halfway, like a request whose answer names what it
    started. Once the block has ended, ``interrupted`` says whether Ctrl+C was pressed
    meanwhile (the caller acts on it); a SIGTERM or SIGHUP acts as it would have. A
    second Ctrl+C (the step takes long: a daemon that does not answer) raises
    :class:`GaveUp` in the block: the person chose not to wait.
    """
    held = HeldSignals()

    def interrupted(signum: int, frame: object) -> None:
        if held.interrupted:
            raise GaveUp
        held.interrupted = True
        # A blocking call interrupted by the signal goes on once this returns (PEP 475).
        print(HELD_NOTE, file=sys.stderr, flush=True)

    others = set(STOP_SIGNALS) - {signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, others)
    # Taken even where it was ignored (a background job's): as run_command takes it next.
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, others)
