"""The aegis plugin of aegis-provider-gemini (entry point ``gemini``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aegis.hookspecs import hookimpl


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    from aegis_gemini.provider import GeminiProvider

    register(GeminiProvider())
