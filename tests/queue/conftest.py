from __future__ import annotations

import pytest

from tests.queue.fakes import fake_workers, queue_store

__all__ = ["fake_workers", "queue_store"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
