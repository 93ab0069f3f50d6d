"""Fixtures of the testing kit's own tests."""

from __future__ import annotations

import pytest

from aegis.testing.fakemodel import FakeModelServer


@pytest.fixture
def server(fake_model: FakeModelServer) -> FakeModelServer:
    """A running fake model server with an empty script: the kit's ``fake_model`` fixture."""
    return fake_model
