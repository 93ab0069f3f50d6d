"""The pytest fixtures of the ``aegis.testing`` plugin.

Every import of the kit happens inside a fixture, so that loading the plugin (pytest
does it for any run once aegis-core is installed) stays free.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from aegis.testing.fakemodel import FakeModelServer
    from aegis.testing.mcp_server import McpTestServer
    from aegis.testing.recorder import Recorder


@pytest.fixture
def fake_model() -> Iterator[FakeModelServer]:
    """A running :class:`~aegis.testing.FakeModelServer` with an empty script.

    Unscripted, it echoes the user (``echo: <text>``) and reports tool results
    (``tool said: <output>``); give it rules with ``fake_model.script = Script().on(...)``.
    """
    from aegis.testing.fakemodel import FakeModelServer

    with FakeModelServer() as server:
        yield server


@pytest.fixture
def mcp_test_server() -> Iterator[McpTestServer]:
    """A running :class:`~aegis.testing.McpTestServer` without a token."""
    from aegis.testing.mcp_server import McpTestServer

    with McpTestServer() as server:
        yield server


@pytest.fixture
def recorder() -> Recorder:
    """A :class:`~aegis.testing.Recorder` to pass as a driver's ``emit``."""
    from aegis.testing.recorder import Recorder

    return Recorder()
