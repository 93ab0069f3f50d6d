"""The base class of every provider's configuration class."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from aegis.config.enums import Permission


class ProviderConfig(BaseModel):
    """Settings of one agent profile that are specific to its provider.

    Provider packages subclass it (``ClaudeCode``, ``GeminiCLI``, ``OpenCode``) and
    set the class variable ``harness`` to the provider's canonical name. Unknown
    fields are rejected, so a typo or a field another provider has (``effort`` on
    Gemini) is reported instead of silently ignored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    harness: ClassVar[str]
    """The canonical name of the provider this configuration belongs to."""

    model: str | None = None
    """The model to use; ``None`` leaves the CLI's own default."""

    permission: Permission = Permission.auto
    """How much the agent may do without asking (mapped to the CLI's own modes)."""

    executable: str | None = None
    """Run this command instead of the provider's default executable."""

    extra_args: tuple[str, ...] = ()
    """Extra command-line arguments passed to the CLI as they are."""

    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for the CLI process."""

    @model_validator(mode="before")
    @classmethod
    def _accept_own_harness(cls, data: Any) -> Any:
        # A dump carries ``harness`` so that it can be loaded back; accept it here.
        if isinstance(data, dict) and "harness" in data:
            data = dict(data)
            harness = data.pop("harness")
            if harness != cls.harness:
                raise ValueError(f"harness {harness!r} does not belong to {cls.__name__}")
        return data

    @model_serializer(mode="wrap")
    def _with_harness(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        return {"harness": self.harness, **handler(self)}


_ProviderBase = ProviderConfig
"""The name the API reference uses for :class:`ProviderConfig`."""
