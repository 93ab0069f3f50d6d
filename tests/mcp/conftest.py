from __future__ import annotations

import pytest

from tests.mcp.support import mcp_test_workflows
from tests.queue.fakes import fake_workers

__all__ = ["fake_workers", "mcp_test_workflows"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
