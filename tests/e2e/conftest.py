"""What every end-to-end test gets: no process of its project outlives it, even when it fails.

The tests start real ``aegis`` commands and agents in ``tmp_path``. One that fails
before it stops them (an assertion between start and stop) would leave them running
past the test run; they are killed here, after the test, whatever its outcome. The
tests that are about leaving no process check that themselves, before this runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_exit_paths import processes_in


@pytest.fixture(autouse=True)
def _kill_what_the_test_left(tmp_path: Path) -> Iterator[None]:
    yield
    for pid in processes_in(tmp_path):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
