"""The aegis plugin of aegis-provider-claude (entry point ``claude``).

Kept light on purpose: the provider (and pydantic with it) is imported only when
aegis asks for providers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aegis.hookspecs import hookimpl


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    from aegis_claude.provider import ClaudeCodeProvider

    register(ClaudeCodeProvider())
