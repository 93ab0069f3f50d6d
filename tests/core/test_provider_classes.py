"""Provider configuration classes: defined in provider packages, reachable as aegis.config.X."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import aegis.config
from aegis.config import ConfigError, ProviderConfig
from aegis.errors import MissingProviderError


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("ClaudeCode", "aegis_claude.config"),
        ("GeminiCLI", "aegis_gemini.config"),
        ("OpenCode", "aegis_opencode.config"),
    ],
)
def test_config_classes_come_from_provider_packages(name: str, module: str) -> None:
    cls = getattr(aegis.config, name)

    assert cls.__module__ == module
    assert issubclass(cls, ProviderConfig)
    assert issubclass(cls, aegis.config._ProviderBase)


def test_from_import_of_a_provider_class_works() -> None:
    from aegis.config import ClaudeCode
    from aegis_claude.config import ClaudeCode as Defined

    assert ClaudeCode is Defined


def test_unknown_name_on_aegis_config_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchProvider"):
        aegis.config.NoSuchProvider  # noqa: B018


def test_class_of_an_excluded_provider_names_the_package(
    only_plugins: Callable[[str], None],
) -> None:
    only_plugins("claude")

    with pytest.raises(MissingProviderError) as caught:
        aegis.config.GeminiCLI  # noqa: B018

    error = caught.value
    assert isinstance(error, ConfigError)
    assert isinstance(error, ImportError)
    assert "aegis-provider-gemini" in str(error)
    assert "AEGIS_PLUGINS" in str(error)
    assert aegis.config.ClaudeCode.__name__ == "ClaudeCode"  # the allowed one still resolves


def test_from_import_of_an_excluded_provider_class_is_an_import_error(
    only_plugins: Callable[[str], None],
) -> None:
    only_plugins("gemini")

    with pytest.raises(ImportError, match="aegis-provider-opencode"):
        from aegis.config import OpenCode  # noqa: F401


def test_flat_harness_of_an_excluded_provider_names_the_package(
    only_plugins: Callable[[str], None],
) -> None:
    only_plugins("")

    with pytest.raises(ConfigError) as caught:
        aegis.config.Agent(harness="claude", model="opus")

    assert "aegis-provider-claude" in str(caught.value)
    assert caught.value.field == "harness"
    # the built-in provider is always there
    assert aegis.config.Agent(harness="scripted").harness == "scripted"
