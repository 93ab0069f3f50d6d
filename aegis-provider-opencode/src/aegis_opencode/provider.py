"""The OpenCode provider object registered with aegis."""

from __future__ import annotations

from aegis.provider import Provider
from aegis_opencode.config import OpenCode


class OpenCodeProvider(Provider):
    """Drives ``opencode acp`` over the Agent Client Protocol."""

    name = "opencode"
    aliases = ("open-code",)
    config_class = OpenCode
    executable = "opencode"
    install_hint = "npm install -g opencode-ai"
    description = "OpenCode, over ACP"
