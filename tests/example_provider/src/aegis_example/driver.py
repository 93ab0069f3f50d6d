"""The driver of ``example-agent``: an ACP CLI, so aegis's ACP driver does the work."""

from __future__ import annotations

from aegis.acp.driver import AcpDriver
from aegis_example.config import Example


class ExampleDriver(AcpDriver[Example]):
    """One session of ``example-agent``.

    The base runs the profile's ``executable`` (else the provider's), then these
    arguments, then the profile's ``extra_args``, in an environment with its ``env``.
    """

    def arguments(self) -> list[str]:
        return ["--model", self.config.model] if self.config.model else []

    def default_environment(self) -> dict[str, str]:
        if self.config.base_url is None:
            return {}
        return {"EXAMPLE_AGENT_BASE_URL": self.config.base_url}
