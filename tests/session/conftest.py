from __future__ import annotations

from collections.abc import Iterator

import pytest

from aegis.plugins import get_plugins
from aegis.registry import reset_registry
from tests.session.fake_provider import FakeDriver, Plugin


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_provider() -> Iterator[None]:
    """Registers the in-process ``fake`` provider for one test."""
    plugin = Plugin()
    get_plugins().manager.register(plugin, name="fake-provider")
    reset_registry()
    FakeDriver.instances.clear()
    yield
    get_plugins().manager.unregister(plugin)
    reset_registry()
