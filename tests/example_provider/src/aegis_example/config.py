"""The configuration class of the example provider."""

from __future__ import annotations

from typing import ClassVar

from aegis.config import ProviderConfig


class Example(ProviderConfig):
    """Settings of an agent run by the example provider."""

    harness: ClassVar[str] = "example"

    greeting: str = "hello"
    """A provider-specific field: only ``Example`` has it."""
