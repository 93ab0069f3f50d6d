"""The agent profile: which provider runs an agent, and with which settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializeAsAny, ValidationError, model_validator

from aegis.config.enums import Effort, Permission
from aegis.config.provider_config import ProviderConfig
from aegis.errors import ConfigError


class Agent(BaseModel):
    """An agent profile. Two construction shapes are supported, both equivalent after validation.

    Provider-object shape (preferred; per-provider fields are validated)::

        Agent(provider=ClaudeCode(model="opus", effort="high"))
        Agent(provider=GeminiCLI(model="gemini-3-flash-preview"))
        Agent(provider=OpenCode(model="opencode/claude-sonnet-4-6"))

    Flat shape (legacy; still works, and constructs the provider internally)::

        Agent(harness="claude-code", model="opus", effort="high", permission="auto")
        Agent(harness="gemini", model="gemini-3-flash-preview", permission="full")

    A provider object is always populated after validation, so code can read either
    ``agent.provider.*`` or the flat fields (``agent.harness``, ``agent.model``,
    ``agent.permission``, ``agent.effort``) uniformly.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: SerializeAsAny[ProviderConfig]
    """The provider and its settings."""

    description: str = ""
    """One line saying what this agent is for (shown to peers and in listings)."""

    cwd: Path | None = None
    """Working directory of this agent's sessions; default: the project root."""

    @model_validator(mode="before")
    @classmethod
    def _build_provider(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        own = {name: data.pop(name) for name in list(data) if name in cls.model_fields}
        harness = data.pop("harness", None)
        flat = data  # whatever is left belongs to the provider
        provider = own.get("provider")
        if isinstance(provider, ProviderConfig):
            if harness is not None and _canonical(harness) != provider.harness:
                raise ConfigError(
                    f"harness={harness!r} disagrees with provider={type(provider).__name__}(...)",
                    field="harness",
                    hint="give the provider object alone",
                )
            if flat:
                names = ", ".join(sorted(flat))
                raise ConfigError(
                    f"{names} given beside provider={type(provider).__name__}(...)",
                    field=sorted(flat)[0],
                    hint=f"put them inside it: {type(provider).__name__}({names}=...)",
                )
            return own
        if isinstance(provider, str):
            if harness is not None and _canonical(harness) != _canonical(provider):
                raise ConfigError(
                    f"harness={harness!r} disagrees with provider={provider!r}", field="harness"
                )
            harness, provider = provider, None
        if isinstance(provider, dict):
            flat = {**provider, **flat}
            harness = harness or flat.pop("harness", None)
        elif provider is not None:
            raise ConfigError(
                f"provider must be a provider configuration such as ClaudeCode(...), "
                f"not {type(provider).__name__}",
                field="provider",
            )
        if harness is None:
            raise ConfigError(
                "an agent needs a provider",
                field="provider",
                hint="Agent(provider=ClaudeCode(model=...)) or Agent(harness='claude-code', ...)",
            )
        if not isinstance(harness, str):
            raise ConfigError(f"harness must be a name, not {harness!r}", field="harness")
        from aegis.registry import get_registry

        try:
            config_class = get_registry().get(harness).provider.config_class
        except ConfigError as exc:
            exc.field = exc.field or "harness"
            raise
        try:
            own["provider"] = config_class(**flat)
        except ValidationError as exc:
            from aegis.config.humanize import validation_to_config_error

            raise validation_to_config_error(exc, config_class) from None
        return own

    @property
    def harness(self) -> str:
        """The canonical name of the provider (``"claude-code"``, ``"gemini"``, ...)."""
        return self.provider.harness

    @property
    def model(self) -> str | None:
        """The model, as set on the provider (``None``: the CLI's default)."""
        return self.provider.model

    @property
    def permission(self) -> Permission:
        """The permission level, as set on the provider."""
        return self.provider.permission

    @property
    def effort(self) -> Effort | None:
        """The effort level for providers that have one, else ``None``."""
        value = getattr(self.provider, "effort", None)
        return value if isinstance(value, Effort) or value is None else Effort(value)


def _canonical(name: str) -> str:
    from aegis.registry import get_registry

    try:
        return get_registry().get(name).provider.name
    except ConfigError as exc:
        exc.field = exc.field or "harness"
        raise
