from __future__ import annotations

from collections.abc import Callable, Iterator

import anyio
import pytest

from aegis.plugins import PluginHost, reset_plugins


@pytest.fixture
def host() -> Iterator[PluginHost]:
    """A host with no plugin but the built-ins, in place of the process's."""
    host = PluginHost()
    host.load(set())
    reset_plugins(host)
    yield host
    reset_plugins()


async def until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    """Wait until ``condition()`` holds (a test's bound, not a measure)."""
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.01)
