"""The Gemini CLI provider object registered with aegis."""

from __future__ import annotations

from aegis.provider import Provider
from aegis_gemini.config import GeminiCLI


class GeminiProvider(Provider):
    """Drives ``gemini --acp`` over the Agent Client Protocol."""

    name = "gemini"
    aliases = ("gemini-cli",)
    config_class = GeminiCLI
    executable = "gemini"
    install_hint = "npm install -g @google/gemini-cli"
    description = "Google's Gemini CLI, over ACP"
