"""The plugin module named by the ``aegis`` entry point of aegis-example-provider."""

from __future__ import annotations

from collections.abc import Callable

from aegis import hookimpl
from aegis.provider import Provider
from aegis_example.config import Example


class ExampleProvider(Provider):
    """A provider for an imaginary ``example-agent`` CLI."""

    name = "example"
    aliases = ("ex",)
    config_class = Example
    executable = "example-agent"
    install_hint = "pip install example-agent"
    description = "the plugin author guide's example provider"


@hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(ExampleProvider())
