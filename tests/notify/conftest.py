from __future__ import annotations

from collections.abc import Iterator

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
