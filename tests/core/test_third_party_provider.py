"""A provider from a separate package (tests/example_provider) works like the built-in ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import aegis.config
from aegis.cli import cli
from aegis.config import Agent, ConfigError, load_config
from aegis.registry import get_registry
from aegis.testing import FakeModelServer
from aegis_example.config import Example
from aegis_example.plugin import ExampleProvider


def test_example_provider_is_discovered_through_its_entry_point() -> None:
    entry = get_registry().get("example")

    assert isinstance(entry.provider, ExampleProvider)
    assert (entry.plugin, entry.distribution) == ("example", "aegis-example-provider")
    assert get_registry().get("ex") is entry


def test_providers_command_lists_the_example_provider() -> None:
    result = CliRunner().invoke(cli, ["providers", "--json"])

    assert result.exit_code == 0, result.output
    example = next(p for p in json.loads(result.stdout)["providers"] if p["name"] == "example")
    assert example["aliases"] == ["ex"]
    assert example["distribution"] == "aegis-example-provider"
    assert example["config_class"] == "Example"
    assert example["install_hint"] == "pip install aegis-example-provider"


def test_aegis_config_resolves_the_example_config_class() -> None:
    assert aegis.config.Example is Example


def test_example_works_in_flat_shape_by_name_and_alias_and_as_provider_object() -> None:
    by_name = Agent(harness="example", base_url="http://127.0.0.1:9/v1", permission="read")
    by_alias = Agent(harness="ex", base_url="http://127.0.0.1:9/v1", permission="read")
    by_object = Agent(provider=Example(base_url="http://127.0.0.1:9/v1", permission="read"))

    assert by_name == by_alias == by_object
    assert by_name.harness == "example"
    assert by_name.provider.base_url == "http://127.0.0.1:9/v1"
    assert by_name.effort is None


def test_example_field_is_validated_like_any_provider_field() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(harness="gemini", base_url="http://127.0.0.1:9/v1")

    assert "only Example has it" in caught.value.message


def test_example_profile_loads_from_aegis_py(write_config: Callable[[str], Path]) -> None:
    write_config(
        "from aegis.config import Agent, Example\n"
        "agents = {'ex': Agent(provider=Example(base_url='http://h/v1'))}\n"
        "default_agent = 'ex'\n"
    )

    agents, default = load_config()

    assert default == "ex"
    assert agents["ex"].provider == Example(base_url="http://h/v1")


def test_aegis_ask_on_the_example_provider_answers_through_example_agent(
    fake_model: FakeModelServer, tmp_path: Path
) -> None:
    # The plugin guide's walk: a profile of the example provider, the kit's fake model.
    (tmp_path / ".aegis.py").write_text(
        "from aegis.config import Agent, Example\n"
        f"agents = {{'ex': Agent(provider=Example(base_url='{fake_model.url}/v1', model='m1'))}}\n"
        "default_agent = 'ex'\n"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "aegis", "ask", "ex", "hello"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    # The session ran in the project's daemon: its agent is first told who it is and
    # which aegis tools it has (the MCP plane's preamble), and the fake model echoes it.
    assert done.stdout.startswith("echo: You are agent `")
    assert done.stdout.endswith("\n\nhello\n")
    [request] = fake_model.requests
    assert request.user_text.endswith("\n\nhello") and request.model == "m1"
