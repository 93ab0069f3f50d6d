"""The agent profile: which provider runs an agent, and with which settings.

A profile names its provider either with a configuration object
(``Agent(provider=ClaudeCode(...))``) or by name (``Agent(harness="claude-code",
...)``). A name is resolved while the profile is validated, by the
:class:`ProviderNames` given in pydantic's validation context under
``"providers"`` (``Agent.model_validate(data, context={"providers": ...})``).
Without one (``Agent(harness=...)`` in Python), by :func:`current_providers`: those
set by :func:`resolving_providers` around the construction (the loader of
``.aegis.py`` sets its plugin host's registry), or else the process's registry.
A provider object needs no resolving.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from aegis.config.approvals import Approvals
from aegis.config.enums import Effort, Permission
from aegis.config.provider_config import ProviderConfig
from aegis.errors import ConfigError


class ProviderNames(Protocol):
    """What validating a profile needs to know of the installed providers.

    :class:`aegis.registry.ProviderRegistry` is one.
    """

    def config_class_for(self, name: str) -> type[ProviderConfig]:
        """The configuration class of provider ``name``; ``ConfigError`` if none."""
        ...

    def canonical_name(self, name: str) -> str:
        """The canonical name of provider ``name``; ``ConfigError`` if none."""
        ...


_providers: ContextVar[ProviderNames | None] = ContextVar("aegis_providers", default=None)


@contextmanager
def resolving_providers(providers: ProviderNames) -> Iterator[None]:
    """Resolve provider names with ``providers`` in the profiles made inside the block."""
    token = _providers.set(providers)
    try:
        yield
    finally:
        _providers.reset(token)


def current_providers() -> ProviderNames:
    """The providers that names resolve to here: the block's, or the process's registry."""
    providers = _providers.get()
    if providers is not None:
        return providers
    from aegis.registry import get_registry

    return get_registry()


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

    The flat shape's name is resolved by the providers given in the validation
    context (``Agent.model_validate(data, context={"providers": registry})``), else
    by those of the plugin host (``.aegis.py`` is loaded with its host's registry).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: SerializeAsAny[ProviderConfig]
    """The provider and its settings."""

    description: str = ""
    """One line saying what this agent is for (shown to peers and in listings)."""

    cwd: Path | None = None
    """Working directory of this agent's sessions; default: the project root."""

    workspace: str = "project"
    """Where this agent's sessions work: ``"project"`` (the project's folder, shared
    with every other session) or ``"worktree"`` (a git worktree on a branch of its own,
    ``aegis/<handle>``, to be reviewed with ``aegis diff`` and landed with ``aegis
    land``; see the guide's page on worktrees)."""

    workspace_base: str | None = None
    """With ``workspace="worktree"``: the local branch a worktree starts from and is
    landed into; default: the branch checked out in the project (``HEAD``'s)."""

    orchestrate: Literal["none", "own", "any"] = "own"
    """What this agent's sessions may start and stop through the MCP plane's
    orchestration tools: ``"own"`` spawn helpers and close, interrupt or cancel only
    the sessions they spawned and the tasks they enqueued; ``"any"`` also any other
    session or task of the project (a supervisor); ``"none"`` none of it (they may
    still list profiles and message groups)."""

    approvals: Approvals = Approvals()
    """What this agent's CLI may do without asking, must not do, and must ask a person
    about: rules by tool kind, tool name and argument, and how long a request waits
    for an answer (see the guide's page on approvals). Default: no rules, the
    permission level alone decides."""

    @model_validator(mode="before")
    @classmethod
    def _build_provider(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        # Looked up only when a name must be resolved: a provider object needs none.
        providers: ProviderNames | None = (info.context or {}).get("providers")
        data = dict(data)
        own = {name: data.pop(name) for name in list(data) if name in cls.model_fields}
        harness = data.pop("harness", None)
        flat = data  # whatever is left belongs to the provider
        provider = own.get("provider")
        if isinstance(provider, ProviderConfig):
            if harness is not None and _canonical(providers, harness) != provider.harness:
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
            if harness is not None and _canonical(providers, harness) != _canonical(
                providers, provider
            ):
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
        try:
            config_class = (providers or current_providers()).config_class_for(harness)
        except ConfigError as exc:
            exc.field = exc.field or "harness"
            raise
        try:
            own["provider"] = config_class(**flat)
        except ValidationError as exc:
            from aegis.config.humanize import validation_to_config_error

            raise validation_to_config_error(exc, config_class) from None
        return own

    @model_validator(mode="after")
    def _check_workspace(self) -> Agent:
        check_workspace(self.workspace, self.workspace_base)
        return self

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


WORKSPACES = ("project", "worktree")
"""The kinds of workspace a session may have."""


def check_workspace(workspace: object, base: object) -> None:
    """Raise :class:`ConfigError` unless ``workspace`` and ``base`` make a valid choice."""
    if workspace not in WORKSPACES:
        raise ConfigError(
            f"workspace must be 'project' or 'worktree', not {workspace!r}",
            field="workspace",
            hint="'worktree' gives each session a git worktree and branch of its own",
        )
    if base is not None:
        if workspace != "worktree":
            raise ConfigError(
                "workspace_base is the branch a worktree starts from: it needs "
                "workspace='worktree'",
                field="workspace_base",
            )
        if not isinstance(base, str) or not base.strip() or base.startswith("-"):
            raise ConfigError(
                f"workspace_base must name a local branch, not {base!r}",
                field="workspace_base",
                hint="for example workspace_base='main'",
            )


def _canonical(providers: ProviderNames | None, name: str) -> str:
    try:
        return (providers or current_providers()).canonical_name(name)
    except ConfigError as exc:
        exc.field = exc.field or "harness"
        raise
