"""The provider of ``fake_agent.py``: a declaration and a driver, as a plugin has them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from aegis.acp.driver import AcpDriver
from aegis.config import ProviderConfig
from aegis.provider import Provider

if TYPE_CHECKING:
    from aegis.config import Agent
    from aegis.driver import Driver, SessionOptions

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")


class FakeAgent(ProviderConfig):
    """Settings of a ``fake_agent.py`` session."""

    harness: ClassVar[str] = "fake-agent"


class FakeAgentProvider(Provider[FakeAgent]):
    config_class = FakeAgent
    # The interpreter runs the script; a profile's executable replaces it.
    executable = sys.executable
    install_hint = "pip install fake-agent"

    def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
        return FakeAgentDriver(self, self.checked_config(agent), options)


class FakeAgentDriver(AcpDriver[FakeAgent]):
    def arguments(self) -> list[str]:
        return [str(FAKE_AGENT)]


def fake_driver(options: SessionOptions, config: FakeAgent | None = None) -> FakeAgentDriver:
    return FakeAgentDriver(FakeAgentProvider(), config or FakeAgent(), options)
