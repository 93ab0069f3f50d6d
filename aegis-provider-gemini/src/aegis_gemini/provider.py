"""The Gemini CLI provider object registered with aegis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aegis.provider import Provider
from aegis_gemini.config import GeminiCLI

if TYPE_CHECKING:
    from aegis.config.agent import Agent
    from aegis.driver import Driver, SessionOptions


class GeminiProvider(Provider[GeminiCLI]):
    """Drives ``gemini --acp`` over the Agent Client Protocol."""

    aliases = ("gemini-cli",)
    config_class = GeminiCLI
    executable = "gemini"
    install_hint = "npm install -g @google/gemini-cli"
    description = "Google's Gemini CLI, over ACP"

    def open_driver(self, agent: Agent, options: SessionOptions) -> Driver:
        """A :class:`~aegis_gemini.driver.GeminiDriver` for one session of ``agent``.

        A missing executable is reported by ``start()`` (``HarnessNotFound``, with the
        npm command that installs it), where the session layer expects start-up failures.
        """
        from aegis_gemini.driver import GeminiDriver

        return GeminiDriver(self, self.checked_config(agent), options)
