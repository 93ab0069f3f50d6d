"""Running a call that may hang in a thread the event loop can walk away from."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel


async def call_in_daemon_thread(fn: Callable[[], Any], timeout: float, name: str) -> None:
    """Call ``fn()`` in a new daemon thread and wait at most ``timeout`` seconds for it.

    Raises what ``fn`` raised, or ``TimeoutError`` once ``timeout`` passed (the call
    goes on in its thread). Why not
    :func:`anyio.to_thread.run_sync`: its worker threads are not daemon threads, so a
    call that never returns (a plugin stuck on a dead network) would keep the process
    from exiting. This thread is abandoned instead, and dies with the process.
    """
    done = anyio.Event()
    token = anyio.lowlevel.current_token()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # reported on the loop, whatever it was
            failure.append(exc)
        finally:
            # RuntimeError: the loop is gone, and nobody waits any more.
            with contextlib.suppress(RuntimeError):
                anyio.from_thread.run_sync(done.set, token=token)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    with anyio.move_on_after(timeout):
        await done.wait()
    if not done.is_set():
        raise TimeoutError(f"no answer in {timeout:g} s")
    if failure:
        raise failure[0]
