"""The OpenCode provider object registered with aegis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aegis.provider import Provider
from aegis_opencode.config import OpenCode

if TYPE_CHECKING:
    from aegis.config.agent import Agent
    from aegis.driver import Driver, SessionOptions


class OpenCodeProvider(Provider[OpenCode]):
    """Drives ``opencode acp`` over the Agent Client Protocol."""

    aliases = ("open-code",)
    config_class = OpenCode
    executable = "opencode"
    install_hint = "npm install -g opencode-ai"
    description = "OpenCode, over ACP"

    def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
        """An :class:`~aegis_opencode.driver.OpenCodeDriver` for one session of ``agent``.

        A missing executable is reported by ``start()`` (``HarnessNotFound``, with the
        npm command that installs it), where the session layer expects start-up failures.
        """
        from aegis_opencode.driver import OpenCodeDriver

        return OpenCodeDriver(self, self.checked_config(agent), options)
