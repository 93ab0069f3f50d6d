"""Fixtures of the Gemini provider's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope, so that a module can share one gemini session between its tests.
    return "asyncio"
