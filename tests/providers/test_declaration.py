"""A provider declared once, and the profile's executable, extra_args and env honoured.

Each built-in provider runs its real CLI (the scripted one its real agent process)
through a wrapper script given as the profile's ``executable``: the wrapper records the
argv and the environment it was started with, then execs the real program. What the
process got is checked, not what the driver meant to give it.
"""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

from aegis.builtins.scripted import Scripted
from aegis.config import Agent, ProviderConfig
from aegis.driver import ProcessDriver, SessionOptions
from aegis.errors import HarnessNotFound
from aegis.known_providers import KNOWN_PROVIDERS
from aegis.provider import Provider
from aegis.registry import KNOWN_PACKAGES, get_registry
from aegis.testing.fakemodel import FakeModelServer, Script
from aegis_claude.config import ClaudeCode
from aegis_gemini.config import GeminiCLI
from aegis_opencode.config import OpenCode
from tests.support.clis import GEMINI_MODEL, CliEnv, claude_env, gemini_env, opencode_env

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(Script()) as server:
        yield server


@dataclass
class Wrapper:
    """A script that records how it was started, then execs ``real``."""

    path: Path
    record: Path

    @classmethod
    def write(cls, folder: Path, real: str, name: str = "wrapped-cli") -> Wrapper:
        folder.mkdir(parents=True, exist_ok=True)
        record = folder / f"{name}.record"
        path = folder / name
        path.write_text(
            "#!/bin/sh\n"
            f"printf '%s\\0' \"$0\" \"$@\" > '{record}.argv'\n"
            f"printf '%s\\0' \"$AEGIS_DECL_PROFILE\" \"$AEGIS_DECL_SESSION\" > '{record}.env'\n"
            f'exec "{real}" "$@"\n'
        )
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return cls(path, record)

    def argv(self) -> list[str]:
        return Path(f"{self.record}.argv").read_text().split("\0")[:-1]

    def env(self) -> list[str]:
        return Path(f"{self.record}.env").read_text().split("\0")[:-1]


@dataclass
class Case:
    """How to run one provider's real program in a temporary folder."""

    harness: str
    make_config: Callable[..., ProviderConfig]
    extra_args: tuple[str, ...]
    environment: Callable[[Path, str], CliEnv | None]
    real: Callable[[CliEnv | None], str]


def _project(tmp: Path) -> Path:
    return tmp / "project"


CASES = [
    Case(
        "claude-code",
        lambda **kw: ClaudeCode(permission="full", **kw),
        ("--add-dir=/tmp",),
        claude_env,
        lambda env: str(env.executable) if env else "",
    ),
    Case(
        "gemini",
        lambda **kw: GeminiCLI(model=GEMINI_MODEL, permission="full", **kw),
        ("--screen-reader",),
        gemini_env,
        lambda env: str(env.executable) if env else "",
    ),
    Case(
        "opencode",
        lambda **kw: OpenCode(**kw),
        ("--print-logs",),
        lambda tmp, url: opencode_env(tmp, url, _project(tmp)),
        lambda env: str(env.executable) if env else "",
    ),
    Case(
        "scripted",
        lambda **kw: Scripted(**kw),
        ("--an-extra-argument",),
        lambda tmp, url: None,
        lambda env: sys.executable,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.harness for case in CASES])
async def test_the_process_gets_the_profile_s_executable_extra_args_and_env(
    case: Case, tmp_path: Path, model: FakeModelServer
) -> None:
    cli = case.environment(tmp_path, model.url)
    wrapper = Wrapper.write(tmp_path / "bin", case.real(cli))
    config = case.make_config(
        executable=str(wrapper.path),
        extra_args=case.extra_args,
        env={"AEGIS_DECL_PROFILE": "from-profile"},
    )
    project = _project(tmp_path)
    project.mkdir(parents=True, exist_ok=True)
    session_env = {**(cli.env if cli else {}), "AEGIS_DECL_SESSION": "from-session"}
    provider = get_registry().get(case.harness).provider
    driver = provider.open_driver(
        Agent(provider=config), SessionOptions(cwd=project, env=session_env)
    )
    assert isinstance(driver, ProcessDriver)
    with anyio.fail_after(90):
        async with driver:
            await driver.start()
            arguments = driver.arguments()

    argv = wrapper.argv()
    # The executable as the provider finds it (what `aegis providers` and
    # `aegis config check` report), then the driver's arguments, then extra_args.
    assert argv[0] == provider.find_executable(config) == str(wrapper.path)
    assert argv[1:] == [*arguments, *case.extra_args]
    assert wrapper.env() == ["from-profile", "from-session"]


async def test_an_executable_named_on_the_profile_s_path_is_the_one_the_provider_reports(
    tmp_path: Path,
) -> None:
    # A bare command name, found on a PATH that only the profile's env holds: the
    # provider's lookup and the session's process agree on which file that is.
    wrapper = Wrapper.write(tmp_path / "bin", sys.executable, name="my-python")
    config = Scripted(
        executable="my-python",
        env={"PATH": f"{wrapper.path.parent}:/usr/bin:/bin", "AEGIS_DECL_PROFILE": "p"},
    )
    provider = get_registry().get("scripted").provider
    assert provider.find_executable(config) == str(wrapper.path)
    driver = provider.open_driver(Agent(provider=config), SessionOptions(cwd=tmp_path))
    with anyio.fail_after(30):
        async with driver:
            await driver.start()
    assert wrapper.argv()[0] == str(wrapper.path)


async def test_a_relative_executable_is_aegis_s_not_the_session_s_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapper = Wrapper.write(tmp_path / "bin", sys.executable, name="relative-python")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.chdir(tmp_path)
    config = Scripted(executable="./bin/relative-python")
    provider = get_registry().get("scripted").provider
    assert provider.find_executable(config) == str(wrapper.path)
    driver = provider.open_driver(Agent(provider=config), SessionOptions(cwd=workspace))
    with anyio.fail_after(30):
        async with driver:
            await driver.start()
    assert wrapper.argv()[0] == str(wrapper.path)


async def test_an_executable_the_provider_cannot_find_is_not_started_either(
    tmp_path: Path,
) -> None:
    config = Scripted(executable="no-such-program", env={"PATH": str(tmp_path)})
    provider = get_registry().get("scripted").provider
    assert provider.find_executable(config) is None
    driver = provider.open_driver(Agent(provider=config), SessionOptions(cwd=tmp_path))
    with anyio.fail_after(30):
        async with driver:
            with pytest.raises(HarnessNotFound, match="'no-such-program'"):
                await driver.start()


def test_a_provider_is_named_by_its_configuration_class() -> None:
    for entry in get_registry().all():
        assert entry.provider.name == entry.provider.config_class.harness


def test_a_provider_whose_name_contradicts_its_configuration_is_refused() -> None:
    class Thing(ProviderConfig):
        harness: ClassVar[str] = "thing"

    with pytest.raises(TypeError, match=r"disagrees with Thing\.harness 'thing'"):

        class Wrong(Provider[Thing]):  # pyright: ignore[reportUnusedClass]
            name: ClassVar[str] = "other"
            config_class = Thing

    class Right(Provider[Thing]):
        config_class = Thing

    assert Right().names() == ("thing",)


def test_the_list_of_maintained_packages_agrees_with_their_providers() -> None:
    # The one copy of their facts that core holds (to say which package to install
    # when one is missing) is checked against the installed providers.
    providers = {entry.provider.name: entry for entry in get_registry().all()}
    for known in KNOWN_PROVIDERS:
        entry = providers[known.name]
        provider = entry.provider
        assert tuple(provider.aliases) == known.aliases
        assert provider.config_class.__name__ == known.config_class
        assert provider.executable == known.executable
        assert entry.distribution == known.distribution
        assert provider.config_class.__module__.partition(".")[0] == known.module
    assert {known.config_class for known in KNOWN_PROVIDERS} == set(KNOWN_PACKAGES)


def test_drivers_hold_no_copy_of_the_provider_s_facts() -> None:
    from aegis_claude.driver import ClaudeDriver
    from aegis_gemini.driver import GeminiDriver
    from aegis_opencode.driver import OpenCodeDriver

    for driver_class in (ClaudeDriver, GeminiDriver, OpenCodeDriver):
        facts: set[Any] = {"install_hint", "executable", "name", "aliases"}
        assert not facts & set(vars(driver_class)), driver_class
