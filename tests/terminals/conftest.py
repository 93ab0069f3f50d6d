from __future__ import annotations

import pytest

from tests.queue.fakes import fake_workers

__all__ = ["fake_workers"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
