"""Isolated environments for running the real CLIs against a ``FakeModelServer``.

Each ``*_env`` function writes what the CLI needs under a test's temporary folder and
returns a ``CliEnv``: the executable, the complete environment (nothing else is inherited
from the caller but ``PATH`` and the locale, so a developer's API keys or config can't leak
into a test) and the files it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, NamedTuple

from aegis.testing.environment import isolated_env

CliName = Literal["claude", "gemini", "opencode"]
CLI_NAMES: tuple[CliName, ...] = ("claude", "gemini", "opencode")

CLIS_DIR = Path(__file__).resolve().parents[1] / "clis"
"""``tests/clis``: the npm project pinning the CLIs' versions."""

SHARED_CACHE = CLIS_DIR / ".cache"
"""Git-ignored; holds caches shared by every test (e.g. opencode's npm packages)."""

GEMINI_MODEL = "gemini-2.5-flash"
"""The model to pass to ``gemini -m``; any name works against the fake, but without ``-m``
gemini first asks its router which model to use."""


class CliNotInstalledError(RuntimeError):
    """The pinned CLIs are not installed under ``tests/clis``."""


class CliEnv(NamedTuple):
    """How to start one CLI in isolation."""

    executable: Path
    env: dict[str, str]
    files: list[Path]


def cli_path(name: CliName) -> Path:
    """The pinned executable of CLI ``name``; raise if ``make clis`` was not run."""
    path = CLIS_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        raise CliNotInstalledError(
            f"{name} is not installed at {path}. Run `make clis` (npm install in {CLIS_DIR}) first."
        )
    return path


def _write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def claude_env(tmp: Path, url: str) -> CliEnv:
    """claude against ``url``. ``IS_SANDBOX=1`` lets bypassPermissions run as root."""
    env = isolated_env(tmp / "home")
    env.update(
        ANTHROPIC_BASE_URL=url,
        ANTHROPIC_API_KEY="sk-ant-fake-key",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        IS_SANDBOX="1",
    )
    return CliEnv(cli_path("claude"), env, [])


def gemini_env(tmp: Path, url: str) -> CliEnv:
    """gemini against ``url``, with API-key auth and usage statistics off."""
    home = tmp / "home"
    env = isolated_env(home)
    settings = _write_json(
        home / ".gemini" / "settings.json",
        {
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            # Without this it resolves a Google usage-statistics host.
            "privacy": {"usageStatisticsEnabled": False},
        },
    )
    env.update(
        GEMINI_API_KEY="fake-gemini-key",
        GOOGLE_GEMINI_BASE_URL=url,
        GEMINI_CLI_NO_RELAUNCH="true",
    )
    return CliEnv(cli_path("gemini"), env, [settings])


def opencode_config(url: str, models: tuple[str, ...] = ("m1",)) -> dict[str, Any]:
    """An ``opencode.json`` whose ``fake`` provider is the fake model server."""
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "options": {"baseURL": f"{url}/v1", "apiKey": "fake-openai-key"},
                "models": {m: {"name": m} for m in models},
            }
        },
        "model": f"fake/{models[0]}",
        "small_model": f"fake/{models[0]}",
        "autoupdate": False,
        "share": "disabled",
        "permission": "allow",
    }


def opencode_env(
    tmp: Path, url: str, project: Path | None = None, *, allow_npm: bool = False
) -> CliEnv:
    """opencode against ``url``; writes ``opencode.json`` into ``project`` (default tmp/project).

    opencode 1.18 bundles ``@ai-sdk/openai-compatible``, so the ``fake`` provider needs no
    download. What it does download goes to shared, git-ignored folders so it happens once
    per checkout rather than once per test: npm provider packages
    (``$XDG_CACHE_HOME/opencode/packages``) and ripgrep for its grep/glob tools
    (``$XDG_CACHE_HOME/opencode/bin``). At every start it would also npm-install
    ``@opencode-ai/plugin`` into its config folder in the background; a pre-written lock
    file makes it skip that. Unless ``allow_npm``, npm's registry is pointed at the fake
    server, so any remaining npm lookup fails at once and shows in ``server.log``.
    """
    home = tmp / "home"
    env = isolated_env(home)
    project = project or tmp / "project"
    project.mkdir(parents=True, exist_ok=True)
    files = [_write_json(project / "opencode.json", opencode_config(url))]
    xdg = {
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_STATE_HOME": home / ".local" / "state",
        "XDG_CACHE_HOME": home / ".cache",
    }
    for var, path in xdg.items():
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    files += _skip_plugin_install(xdg["XDG_CONFIG_HOME"] / "opencode")
    _share_opencode_cache(xdg["XDG_CACHE_HOME"] / "opencode")
    env.update(
        OPENCODE_DISABLE_MODELS_FETCH="1",
        OPENCODE_DISABLE_AUTOUPDATE="1",
        OPENCODE_DISABLE_SHARE="1",
    )
    if not allow_npm:
        env["npm_config_registry"] = f"{url}/_npm/"
    return CliEnv(cli_path("opencode"), env, files)


def _skip_plugin_install(config_dir: Path) -> list[Path]:
    # opencode reinstalls @opencode-ai/plugin (64 MB, for user-written plugins) into each
    # config folder that lacks node_modules or whose package-lock.json lacks a dependency
    # of package.json. An empty node_modules plus a lock naming it satisfies that check.
    (config_dir / "node_modules").mkdir(parents=True, exist_ok=True)
    lock = {
        "name": "opencode",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"dependencies": {"@opencode-ai/plugin": "*"}}},
    }
    return [
        _write_json(config_dir / "package.json", {"dependencies": {}}),
        _write_json(config_dir / "package-lock.json", lock),
    ]


def _share_opencode_cache(cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in ("packages", "bin"):
        shared = SHARED_CACHE / "opencode" / name
        shared.mkdir(parents=True, exist_ok=True)
        link = cache_dir / name
        if not link.exists():
            link.symlink_to(shared, target_is_directory=True)


def cli_env(name: CliName, tmp: Path, url: str) -> CliEnv:
    """The environment of CLI ``name`` (see ``claude_env``, ``gemini_env``, ``opencode_env``)."""
    if name == "claude":
        return claude_env(tmp, url)
    if name == "gemini":
        return gemini_env(tmp, url)
    return opencode_env(tmp, url)
