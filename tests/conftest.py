"""Settings every test of the tree needs: none of the developer's aegis variables leak in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer


@pytest.fixture(autouse=True)
def _no_aegis_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``AEGIS_PLUGINS`` or ``AEGIS_CONFIG`` set in the shell must not change a test."""
    monkeypatch.delenv("AEGIS_PLUGINS", raising=False)
    monkeypatch.delenv("AEGIS_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def _stop_the_daemons_a_test_started(tmp_path: Path) -> Iterator[None]:
    """A daemon a client command started in the test's folder does not outlive the test."""
    from tests.support.daemons import stop_daemons_under

    yield
    stop_daemons_under(tmp_path)


@pytest.fixture
def anyio_backend() -> str:
    """aegis runs on anyio's asyncio backend (the ACP and MCP libraries need asyncio)."""
    return "asyncio"


@pytest.fixture
def fake_provider() -> Iterator[None]:
    """Registers the in-process ``fake`` provider (tests/session/fake_provider.py) for one test."""
    from aegis.plugins import get_host
    from tests.session.fake_provider import FakeDriver, Plugin

    plugin = Plugin()
    get_host().register(plugin, "fake-provider")
    FakeDriver.instances.clear()
    yield
    get_host().unregister(plugin)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the whole run, started on first use.

    See tests/support/postgres.py; `make test` installs the server's package."""
    from tests.support.postgres import running_server

    with running_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a fresh database of :func:`postgres_server` (the password: in the env)."""
    from tests.support.postgres import PASSWORD, PASSWORD_ENV

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return postgres_server.new_database()
