"""The five packages build as wheels, and each installs and works with only what it declares.

These tests build the workspace with ``uv build --all-packages`` and install wheels in
fresh virtual environments (dependencies come from the package index).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from pathlib import Path

import pytest

import aegis
from aegis.plugins import BUILTIN_PLUGINS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

PLUGINS = {
    # distribution -> (its aegis entry points, the providers it adds)
    "aegis-provider-claude": ({"claude"}, {"claude-code"}),
    "aegis-provider-gemini": ({"gemini"}, {"gemini"}),
    "aegis-provider-opencode": ({"opencode"}, {"opencode"}),
    "aegis-queue-postgres": ({"postgres"}, set()),
    "aegis-tui": ({"tui"}, set()),
}
PACKAGES = ["aegis-core", *PLUGINS]


def uv() -> list[str]:
    """The uv of the dev environment (a dev dependency), else one on PATH."""
    beside = Path(sys.executable).with_name("uv")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def environment(home: Path) -> dict[str, str]:
    hidden = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "AEGIS_PLUGINS", "AEGIS_CONFIG")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env["HOME"] = str(home)
    return env


def run(argv: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=environment(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def ok(argv: list[str], cwd: Path) -> str:
    done = run(argv, cwd)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``uv build --all-packages`` into a temporary folder: distribution name -> wheel."""
    out = tmp_path_factory.mktemp("dist")
    ok([*uv(), "build", "--all-packages", "--out-dir", str(out)], ROOT)
    return {path.name.split("-")[0].replace("_", "-"): path for path in sorted(out.glob("*.whl"))}


class Venv:
    """A fresh virtual environment with some of the wheels (or other requirements) installed."""

    def __init__(self, folder: Path, wheels: Sequence[Path | str]) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        ok([*uv(), "venv", "--quiet", "--python", sys.executable, str(folder / "venv")], folder)
        self.python = folder / "venv" / "bin" / "python"
        self.aegis = folder / "venv" / "bin" / "aegis"
        ok(
            [*uv(), "pip", "install", "--quiet", "--python", str(self.python)]
            + [str(wheel) for wheel in wheels],
            folder,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run([str(self.aegis), *args], self.folder)

    def python_run(self, code: str) -> subprocess.CompletedProcess[str]:
        return run([str(self.python), "-c", code], self.folder)

    def providers(self) -> list[str]:
        done = self.run("providers", "--json")
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["failed_plugins"] == []
        return [provider["name"] for provider in data["providers"]]

    def plugins(self) -> set[str]:
        done = self.run("plugins", "--json")
        assert done.returncode == 0, done.stderr
        return {info["name"] for info in json.loads(done.stdout)}

    def installed(self) -> set[str]:
        done = run([*uv(), "pip", "list", "--format", "json", "--python", str(self.python)], ROOT)
        assert done.returncode == 0, done.stderr
        return {item["name"] for item in json.loads(done.stdout)}


@pytest.fixture(scope="module")
def core_and_claude(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Venv:
    return Venv(
        tmp_path_factory.mktemp("core-claude"),
        [wheels["aegis-core"], wheels["aegis-provider-claude"]],
    )


@pytest.fixture(scope="module")
def core_alone(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Venv:
    return Venv(tmp_path_factory.mktemp("core"), [wheels["aegis-core"]])


# --- the wheels -----------------------------------------------------------------------


def test_uv_build_all_packages_makes_the_five_wheels(wheels: dict[str, Path]) -> None:
    assert sorted(wheels) == sorted(PACKAGES)
    for name, wheel in wheels.items():
        assert wheel.name == f"{name.replace('-', '_')}-{aegis.__version__}-py3-none-any.whl"


def wheel_metadata(wheel: Path) -> tuple[list[str], str, list[str]]:
    """``(Requires-Dist, entry_points.txt, file names)`` of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    return metadata.get_all("Requires-Dist") or [], entry_points, names


def test_core_wheel_has_the_cli_and_builtin_plugin_and_no_provider_code(
    wheels: dict[str, Path],
) -> None:
    requires, entry_points, names = wheel_metadata(wheels["aegis-core"])

    assert {r.split(">")[0].split("=")[0] for r in requires} >= {"click", "pluggy", "pydantic"}
    assert not [r for r in requires if r.startswith(("aegis", "textual"))]
    assert "aegis = aegis.cli:main" in entry_points
    assert "scripted = aegis.builtins.scripted" in entry_points
    assert "aegis/py.typed" in names
    assert not [n for n in names if n.startswith(("aegis_claude", "aegis_gemini", "aegis_tui"))]


@pytest.mark.parametrize("dist", list(PLUGINS))
def test_plugin_wheels_declare_their_entry_points_and_depend_on_core(
    wheels: dict[str, Path], dist: str
) -> None:
    requires, entry_points, names = wheel_metadata(wheels[dist])
    entry_point_names, _ = PLUGINS[dist]

    assert "aegis-core>=0.1.0" in requires
    extra = {"aegis-tui": {"textual", "pyte"}, "aegis-queue-postgres": {"psycopg[binary]"}}.get(
        dist, set()
    )
    assert {r.split(">")[0] for r in requires} == {"aegis-core", *extra}
    assert entry_points.startswith("[aegis]\n")
    assert {line.split(" = ")[0] for line in entry_points.splitlines()[1:] if line} == (
        entry_point_names
    )
    module = dist.replace("aegis-provider-", "aegis_").replace("-", "_")
    assert f"{module}/py.typed" in names
    assert not [n for n in names if n.startswith("aegis/")]


# --- installed alone ------------------------------------------------------------------


def test_core_and_claude_wheels_give_aegis_with_claude_and_nothing_else(
    core_and_claude: Venv,
) -> None:
    version = core_and_claude.run("--version")

    assert version.returncode == 0, version.stderr
    assert version.stdout == f"aegis {aegis.__version__}\n"
    assert core_and_claude.providers() == ["scripted", "claude-code"]
    assert core_and_claude.plugins() == {*BUILTIN_PLUGINS, "claude"}
    installed = core_and_claude.installed()
    assert {"aegis-core", "aegis-provider-claude"} <= installed
    assert (
        not {
            "aegis-provider-gemini",
            "aegis-provider-opencode",
            "aegis-tui",
            "aegis-example-provider",
            "textual",
        }
        & installed
    )


def test_core_and_claude_validate_a_claude_config_and_name_the_missing_gemini(
    core_and_claude: Venv,
) -> None:
    project = core_and_claude.folder
    (project / ".aegis.py").write_text(
        "from aegis.config import Agent, ClaudeCode\n"
        "agents = {'c': Agent(provider=ClaudeCode(model='opus', effort='high'))}\n"
        "default_agent = 'c'\n"
    )
    check = core_and_claude.run("config", "check")
    (project / ".aegis.py").write_text(
        "from aegis.config import Agent\n"
        "agents = {'g': Agent(harness='gemini')}\n"
        "default_agent = 'g'\n"
    )
    missing = core_and_claude.run("config", "check")

    assert check.returncode == 0, check.stderr
    assert missing.returncode == 1
    assert "provider 'gemini' is not installed" in missing.stderr
    assert "hint: pip install aegis-provider-gemini" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_core_alone_has_only_the_scripted_provider(core_alone: Venv) -> None:
    assert core_alone.run("--version").returncode == 0
    assert core_alone.providers() == ["scripted"]
    assert core_alone.plugins() == set(BUILTIN_PLUGINS)
    assert not {n for n in core_alone.installed() if n.startswith("aegis-") and n != "aegis-core"}


def test_core_alone_names_the_package_of_a_missing_config_class(core_alone: Venv) -> None:
    done = core_alone.python_run("import aegis.config as c; c.ClaudeCode")

    assert done.returncode == 1
    assert "MissingProviderError" in done.stderr
    assert "aegis.config.ClaudeCode needs the aegis-provider-claude package" in done.stderr
    assert "pip install aegis-provider-claude" in done.stderr


def test_core_alone_hints_the_package_of_a_provider_module_import(core_alone: Venv) -> None:
    (core_alone.folder / ".aegis.py").write_text("from aegis_opencode.config import OpenCode\n")

    done = core_alone.run("config", "check")

    assert done.returncode == 1
    assert "ModuleNotFoundError while executing it: No module named 'aegis_opencode'" in (
        done.stderr
    )
    assert "hint: pip install aegis-provider-opencode" in done.stderr


def test_core_alone_has_the_testing_kit_without_pytest(
    core_alone: Venv, wheels: dict[str, Path]
) -> None:
    _, entry_points, names = wheel_metadata(wheels["aegis-core"])
    done = core_alone.python_run(
        "import aegis.testing as t\n"
        "with t.FakeModelServer() as server: print(server.url)\n"
        "import importlib.util; print(importlib.util.find_spec('pytest'))"
    )

    assert "[pytest11]\naegis.testing = aegis.testing" in entry_points
    assert "aegis/testing/conformance.py" in names
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("http://127.0.0.1:") and done.stdout.endswith("None\n")


def test_core_alone_bare_aegis_prints_help(core_alone: Venv) -> None:
    done = core_alone.run()

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: aegis")
    assert "  tui" not in done.stdout


@pytest.mark.parametrize("dist", ["aegis-provider-gemini", "aegis-provider-opencode", "aegis-tui"])
def test_each_plugin_wheel_installs_beside_core_alone(
    tmp_path: Path, wheels: dict[str, Path], dist: str
) -> None:
    venv = Venv(tmp_path, [wheels["aegis-core"], wheels[dist]])
    entry_points, providers = PLUGINS[dist]

    assert venv.plugins() == {*BUILTIN_PLUGINS, *entry_points}
    assert venv.providers() == ["scripted", *sorted(providers)]
    check = run([*uv(), "pip", "check", "--python", str(venv.python)], ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    if dist == "aegis-tui":
        help_text = venv.run("--help").stdout
        assert "  tui " in help_text
