"""Agent profiles and the project configuration (``.aegis.py``).

The provider configuration classes (``ClaudeCode``, ``GeminiCLI``, ``OpenCode``,
and any a plugin adds) live in their provider packages; they are reachable here,
as ``aegis.config.ClaudeCode``, through the provider registry. When the package
is not installed, the error says which one to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aegis.config.agent import Agent
from aegis.config.approvals import Approvals
from aegis.config.enums import Effort, Permission
from aegis.config.loader import Project, load_config, load_project
from aegis.config.provider_config import ProviderConfig, _ProviderBase
from aegis.errors import ConfigError, MissingProviderError
from aegis.project_files import find_project_root

if TYPE_CHECKING:
    from aegis_claude.config import ClaudeCode as ClaudeCode
    from aegis_gemini.config import GeminiCLI as GeminiCLI
    from aegis_opencode.config import OpenCode as OpenCode

__all__ = [
    "Agent",
    "Approvals",
    "ConfigError",
    "Effort",
    "MissingProviderError",
    "Permission",
    "Project",
    "ProviderConfig",
    "_ProviderBase",
    "find_project_root",
    "load_config",
    "load_project",
]


def __getattr__(name: str) -> Any:
    # Only class-like names are looked up, so that probes such as __path__ stay cheap.
    if not name[:1].isupper():
        raise AttributeError(f"module 'aegis.config' has no attribute {name!r}")
    from aegis.registry import get_registry

    return get_registry().config_class(name)
