"""OpenCodeDriver without a model: its command line, its configuration, its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from aegis.builtins.scripted import Scripted
from aegis.config import Agent
from aegis.driver import SessionOptions
from aegis.errors import DriverError, HarnessNotFound
from aegis.registry import get_registry
from aegis_opencode.config import OpenCode
from aegis_opencode.driver import CONFIG_CONTENT, OpenCodeDriver

pytestmark = pytest.mark.anyio


def driver(tmp_path: Path, env: dict[str, str] | None = None, **config: object) -> OpenCodeDriver:
    options = SessionOptions(cwd=tmp_path, env=env or {})
    opened = (
        get_registry()
        .get("opencode")
        .provider.open_driver(Agent(provider=OpenCode.model_validate(config)), options)
    )
    assert isinstance(opened, OpenCodeDriver)
    return opened


def test_the_command_runs_acp_in_the_session_s_directory(tmp_path: Path) -> None:
    plain = driver(tmp_path)
    assert plain.command() == ["opencode", "acp", "--cwd", str(tmp_path)]
    custom = driver(tmp_path, executable="/opt/oc", extra_args=("--print-logs",))
    assert custom.command() == ["/opt/oc", "acp", "--cwd", str(tmp_path), "--print-logs"]


@pytest.mark.parametrize(
    ("permission", "expected"),
    [
        ("read", {"edit": "deny", "bash": "deny"}),
        ("write", {"edit": "allow", "bash": "ask"}),
        ("full", "allow"),
    ],
)
def test_the_permission_reaches_opencode_s_permission_config(
    permission: str, expected: object, tmp_path: Path
) -> None:
    env = driver(tmp_path, permission=permission).environment()
    assert json.loads(env[CONFIG_CONTENT]) == {"permission": expected}


def test_auto_leaves_the_user_s_configuration_alone(tmp_path: Path) -> None:
    mine = json.dumps({"permission": {"bash": "ask"}, "share": "disabled"})
    assert driver(tmp_path, permission="auto").environment().get(CONFIG_CONTENT) is None
    env = driver(tmp_path, {CONFIG_CONTENT: mine}, permission="auto").environment()
    assert env[CONFIG_CONTENT] == mine


def test_the_permission_goes_over_a_configuration_the_user_passes_in_the_variable(
    tmp_path: Path,
) -> None:
    mine = json.dumps({"permission": "allow", "share": "disabled"})
    env = driver(tmp_path, {CONFIG_CONTENT: mine}, permission="read").environment()
    assert json.loads(env[CONFIG_CONTENT]) == {
        "permission": {"edit": "deny", "bash": "deny"},
        "share": "disabled",
    }


@pytest.mark.parametrize("value", ["{not json", "[1, 2]"])
def test_an_unreadable_configuration_variable_is_reported(value: str, tmp_path: Path) -> None:
    with pytest.raises(DriverError, match=CONFIG_CONTENT):
        driver(tmp_path, {CONFIG_CONTENT: value}, permission="write").environment()


async def test_a_missing_executable_says_how_to_install_opencode(tmp_path: Path) -> None:
    missing = driver(tmp_path, executable=str(tmp_path / "no-such-opencode"))
    not_on_path = driver(tmp_path, {"PATH": str(tmp_path)})
    for candidate in (missing, not_on_path):
        with anyio.fail_after(10):
            async with candidate:
                with pytest.raises(HarnessNotFound, match=r"npm install -g opencode-ai"):
                    await candidate.start()


def test_the_provider_opens_opencode_drivers_only_for_opencode_profiles(tmp_path: Path) -> None:
    provider = get_registry().get("opencode").provider
    options = SessionOptions(cwd=tmp_path)
    opened = provider.open_driver(Agent(provider=OpenCode(model="fake/m1")), options)
    assert isinstance(opened, OpenCodeDriver)
    with pytest.raises(DriverError, match="not OpenCode"):
        provider.open_driver(Agent(provider=Scripted()), options)
