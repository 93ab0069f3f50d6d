"""Nothing ``.aegis.py`` does while loading makes a command lie: each is an error with its line."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from aegis.config import ConfigError, load_project
from tests.fixtures.fakes import clean_env, run_aegis

HEAD = (
    "from aegis.config import Agent\n"
    "agents = {'solo': Agent(harness='scripted')}\n"
    "default_agent = 'solo'\n"
)
"""Lines 1-3 of every file below: what the file does at load time starts on line 4."""

CASES: dict[str, tuple[str, str] | tuple[str, str, int]] = {
    "exit-0": ("import sys; sys.exit(0)", "called sys.exit(0) while loading"),
    "exit-message": ("raise SystemExit('bye')", "called sys.exit('bye') while loading"),
    "keyboard-interrupt": ("raise KeyboardInterrupt", "KeyboardInterrupt while loading"),
    "endless-loop": ("while True: pass", "did not finish loading within 2 s"),
    "endless-sleep": ("import time; time.sleep(10_000)", "did not finish loading within 2 s"),
    "swallowed-timeout": (
        "while True:\n    try:\n        while True: pass\n    except BaseException:\n        break",
        "did not finish loading within 2 s",
        6,
    ),
    "thread-left-running": (
        "import threading, time; threading.Thread(target=time.sleep, args=(10_000,)).start()",
        "started thread",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_command_fails_with_the_file_and_line_and_exits(project: Path, case: str) -> None:
    code, message, *where = CASES[case]
    line = where[0] if where else 4
    (project / ".aegis.py").write_text(HEAD + code + "\n")
    env = clean_env(home=project) | {"AEGIS_LOAD_TIMEOUT": "2"}
    for args in (("config", "check"), ("config", "show", "--json")):
        done = run_aegis(*args, cwd=project, env=env)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert done.stdout == ""
        first = done.stderr.splitlines()[0]
        assert first.startswith(f"error: {project / '.aegis.py'}:{line}: "), done.stderr
        assert message in first, done.stderr
        assert "Traceback" not in done.stderr and "Aborted" not in done.stderr


def test_what_the_file_prints_goes_to_stderr_and_json_stays_json(project: Path) -> None:
    (project / ".aegis.py").write_text(
        HEAD + "print('hello from the config')\nimport os; os.system('echo from a shell')\n"
    )
    done = run_aegis("config", "show", "--json", cwd=project, env=clean_env(home=project))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["default_agent"] == "solo"
    assert "hello from the config" in done.stderr and "from a shell" in done.stderr


def test_a_thread_that_ends_during_loading_is_fine(write_config: Callable[[str], Path]) -> None:
    write_config(
        HEAD + "import threading\nt = threading.Thread(target=lambda: None)\nt.start(); t.join()\n"
    )
    assert load_project(timeout=5).default_agent == "solo"


def test_the_deadline_holds_off_the_main_thread_too(write_config: Callable[[str], Path]) -> None:
    write_config(HEAD + "while True: pass\n")
    failures: list[BaseException] = []

    def load() -> None:
        try:
            load_project(timeout=1)
        except BaseException as exc:
            failures.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    [error] = failures
    assert isinstance(error, ConfigError)
    assert error.line == 4 and "did not finish loading within 1 s" in error.message


def test_a_malformed_timeout_variable_is_a_config_error(
    write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(HEAD)
    monkeypatch.setenv("AEGIS_LOAD_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="AEGIS_LOAD_TIMEOUT='soon' is not a number"):
        load_project()


def test_no_deadline_with_zero(
    write_config: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(HEAD + "import time; time.sleep(1.5)\n")
    monkeypatch.setenv("AEGIS_LOAD_TIMEOUT", "0")
    assert load_project().default_agent == "solo"
    monkeypatch.setenv("AEGIS_LOAD_TIMEOUT", "0.5")
    with pytest.raises(ConfigError, match=r"within 0\.5 s"):
        load_project()
