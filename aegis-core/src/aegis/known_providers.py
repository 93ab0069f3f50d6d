"""The provider packages maintained with aegis, described for when they are not installed.

A provider states its facts once, in its own package (:class:`aegis.provider.Provider`).
Core cannot ask a package that is missing, yet must still say which one to install
(``aegis.config.ClaudeCode`` without aegis-provider-claude, ``Agent(harness="claude")``,
``aegis init`` finding ``claude`` on ``PATH``): this table is the one place core holds
those facts, and a test checks it against the installed providers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownProvider:
    """One provider package maintained with aegis."""

    name: str
    """The provider's canonical name (its configuration class's ``harness``)."""
    aliases: tuple[str, ...]
    config_class: str
    """The name of its configuration class, as ``aegis.config`` exposes it."""
    distribution: str
    """The pip package that installs it."""
    module: str
    """Its top-level import package."""
    executable: str
    """The CLI it drives."""
    example: str
    """A profile's provider object, as ``aegis init`` writes it."""


KNOWN_PROVIDERS: tuple[KnownProvider, ...] = (
    KnownProvider(
        "claude-code",
        ("claude",),
        "ClaudeCode",
        "aegis-provider-claude",
        "aegis_claude",
        "claude",
        'ClaudeCode(model="sonnet", effort="medium", permission="write")',
    ),
    KnownProvider(
        "gemini",
        ("gemini-cli",),
        "GeminiCLI",
        "aegis-provider-gemini",
        "aegis_gemini",
        "gemini",
        'GeminiCLI(model="gemini-3-flash-preview", permission="write")',
    ),
    KnownProvider(
        "opencode",
        ("open-code",),
        "OpenCode",
        "aegis-provider-opencode",
        "aegis_opencode",
        "opencode",
        'OpenCode(model="opencode/gpt-5", permission="write")',
    ),
)
