"""The aegis plugin of aegis-provider-opencode (entry point ``opencode``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aegis.hookspecs import hookimpl


@hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    from aegis_opencode.provider import OpenCodeProvider

    register(OpenCodeProvider())
