"""Fixtures for the fake model's self-tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fakemodel import FakeModelServer


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    """A running fake model server with an empty script (echo and tool-result defaults)."""
    with FakeModelServer() as fake:
        yield fake
