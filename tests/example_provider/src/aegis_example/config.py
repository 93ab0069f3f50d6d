"""The configuration class of the example provider."""

from __future__ import annotations

from typing import ClassVar

from aegis.config import ProviderConfig


class Example(ProviderConfig):
    """Settings of an agent run by ``example-agent``."""

    harness: ClassVar[str] = "example"

    base_url: str | None = None
    """The OpenAI-compatible endpoint the agent asks (its ``EXAMPLE_AGENT_BASE_URL``).

    A field only ``Example`` has; by default the agent's own setting applies."""
