"""example-agent passes aegis's provider conformance suite, against aegis's fake model."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from aegis.config import Agent
from aegis.testing import isolated_env
from aegis.testing.conformance import CliSetup, ProviderConformance
from aegis_example.config import Example

# The console script installed beside this Python (its folder need not be on PATH).
AGENT = shutil.which("example-agent") or str(Path(sys.executable).with_name("example-agent"))


class TestExampleConformance(ProviderConformance):
    provider = "example"
    shell_tool = "shell"
    api_error_is_fatal = False  # example-agent takes the next prompt after a failed one

    def environment(self, setup: CliSetup) -> dict[str, str]:
        env = isolated_env(setup.home)
        env["EXAMPLE_AGENT_BASE_URL"] = f"{setup.model.url}/v1"
        return env

    def profile(self, setup: CliSetup) -> Agent:
        return Agent(provider=Example(executable=AGENT, model="fake-model", permission="full"))
