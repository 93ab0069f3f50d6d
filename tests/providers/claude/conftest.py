"""Fixtures of the Claude provider's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.providers.claude.helpers import FakeCli, Recorder, make_fake_cli


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope, so that a module can share one claude session between its tests.
    return "asyncio"


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def fake_cli(tmp_path: Path) -> FakeCli:
    return make_fake_cli(tmp_path / "fake-cli")
