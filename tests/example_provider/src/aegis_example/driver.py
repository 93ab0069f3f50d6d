"""The driver of ``example-agent``: an ACP CLI, so aegis's ACP driver does the work."""

from __future__ import annotations

from aegis.acp.driver import AcpDriver
from aegis_example.config import Example


class ExampleDriver(AcpDriver):
    """One session of ``example-agent``; it only says how to start the CLI."""

    install_hint = "pip install aegis-example-provider"

    def command(self) -> list[str]:
        config = self.agent.provider
        argv = [config.executable or "example-agent"]
        if self.agent.model:
            argv += ["--model", self.agent.model]
        return [*argv, *config.extra_args]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        config = self.agent.provider
        if isinstance(config, Example) and config.base_url:
            env["EXAMPLE_AGENT_BASE_URL"] = config.base_url
        return env
