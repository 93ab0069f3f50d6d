"""Running an async command: one event loop, signals turned into cancellation.

SIGINT (Ctrl+C) and SIGTERM cancel the command's task group, so that every
session closes and every CLI process group is stopped on the way out, exactly as
on a normal exit. A command may take SIGINT for itself (``aegis chat`` uses it to
interrupt the turn) by passing ``on_sigint``, which returns ``True`` when it
handled the signal.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable

import anyio

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def run_command(
    main: Callable[[], Awaitable[int]],
    *,
    on_sigint: Callable[[], Awaitable[bool]] | None = None,
) -> int:
    """Run ``main`` on a fresh event loop; return its exit status (or 130/143 on a signal)."""

    async def runner() -> int:
        status = 0
        async with anyio.create_task_group() as tg:

            async def watch_signals() -> None:
                nonlocal status
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        if signum == signal.SIGINT and on_sigint is not None and await on_sigint():
                            continue
                        status = EXIT_SIGINT if signum == signal.SIGINT else EXIT_SIGTERM
                        tg.cancel_scope.cancel()
                        return

            async def run_main() -> None:
                nonlocal status
                status = await main()
                tg.cancel_scope.cancel()

            tg.start_soon(watch_signals)
            tg.start_soon(run_main)
        return status

    return anyio.run(runner)
