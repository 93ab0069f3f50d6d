"""The configuration of an OpenCode agent profile."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import field_validator

from aegis.config.provider_config import ProviderConfig

_MODEL = re.compile(r"[^/\s]+/\S+")


class OpenCode(ProviderConfig):
    """OpenCode's ``opencode`` CLI.

    Model strings use the ``provider/model`` format opencode expects (e.g.
    ``opencode/claude-sonnet-4-6``, ``opencode/gemini-3-flash``, ``opencode/gpt-5``).
    Run ``opencode models`` to list what's available on your install.
    """

    harness: ClassVar[str] = "opencode"

    @field_validator("model")
    @classmethod
    def _provider_slash_model(cls, value: str | None) -> str | None:
        if value is not None and not _MODEL.fullmatch(value):
            raise ValueError(
                f"OpenCode models are written provider/model (e.g. opencode/gpt-5), "
                f"not {value!r}; `opencode models` lists them"
            )
        return value
