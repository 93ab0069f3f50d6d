"""aegis.testing as a pytest plugin: its fixtures, and that loading it costs nothing.

Each test runs pytest in a child process on a test file of its own, as a provider
package's test run would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

USES_THE_FIXTURES = """
import json, urllib.request

def test_fixtures(fake_model, mcp_test_server, recorder):
    body = {"model": "m", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
    request = urllib.request.Request(
        f"{fake_model.url}/v1/chat/completions", json.dumps(body).encode(),
        {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        reply = json.load(answer)
    assert reply["choices"][0]["message"]["content"] == "echo: hi"
    assert [r.user_text for r in fake_model.requests] == ["hi"]
    assert mcp_test_server.url.startswith("http://127.0.0.1:")
    assert recorder.events == []
"""

LOADS_NOTHING = """
import sys

def test_nothing_heavy_was_imported():
    assert "aegis.testing" in sys.modules, "the plugin is loaded"
    heavy = ("aegis.testing.fakemodel", "aegis.testing.mcp_server",
             "aegis.testing.conformance", "uvicorn", "mcp", "aegis.config")
    assert [m for m in heavy if m in sys.modules] == []
"""


def pytest_run(folder: Path, source: str, *args: str, autoload: bool = True) -> str:
    (folder / "test_it.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_it.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_installed_the_plugin_offers_its_fixtures_in_any_pytest_run(tmp_path: Path) -> None:
    out = pytest_run(tmp_path, USES_THE_FIXTURES)
    assert out.startswith("exit 0"), out


def test_pytest_p_aegis_testing_loads_it_where_plugins_do_not_autoload(tmp_path: Path) -> None:
    without = pytest_run(tmp_path, USES_THE_FIXTURES, autoload=False)
    loaded = pytest_run(tmp_path, USES_THE_FIXTURES, "-p", "aegis.testing", autoload=False)

    assert without.startswith("exit 1") and "fixture 'fake_model' not found" in without
    assert loaded.startswith("exit 0"), loaded


def test_loading_the_plugin_imports_no_server_and_no_aegis_module(tmp_path: Path) -> None:
    out = pytest_run(tmp_path, LOADS_NOTHING)
    assert out.startswith("exit 0"), out


def test_python_m_aegis_testing_fakemodel_serves_until_stopped() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "aegis.testing.fakemodel"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = first.split("serving at ")[1].split()[0]
        body = {"model": "m", "stream": False, "messages": [{"role": "user", "content": "yo"}]}
        request = urllib.request.Request(
            f"{url}/v1/chat/completions",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["choices"][0]["message"]["content"] == "echo: yo"
    finally:
        process.terminate()
        process.wait(timeout=10)
