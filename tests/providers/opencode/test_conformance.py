"""The provider conformance suite, run by OpenCodeDriver on the real opencode CLI (1.18.33)."""

from __future__ import annotations

from aegis.config import Agent
from aegis.testing.conformance import CliSetup, ProviderConformance
from tests.providers.opencode.helpers import isolated_opencode, profile


class TestOpenCodeConformance(ProviderConformance):
    provider = "opencode"
    shell_tool = "bash"

    def environment(self, setup: CliSetup) -> dict[str, str]:
        return isolated_opencode(setup.home.parent, setup.model.url).env.env

    def profile(self, setup: CliSetup) -> Agent:
        return profile(isolated_opencode(setup.home.parent, setup.model.url))
