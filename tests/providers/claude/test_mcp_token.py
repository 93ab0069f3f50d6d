"""claude's MCP configuration (with the plane's bearer token) is for that claude only.

The real claude (pinned 2.1.331) reads it from an inherited pipe (``--mcp-config=
/dev/fd/N``). Once it has started, a second process of the same user looks everywhere
the configuration could be — claude's command line, environment and open descriptors,
the temporary folder, the project — and finds the token nowhere; and the files earlier
versions left behind are swept.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from aegis.config.enums import Permission
from aegis.events import ToolResult
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, mcp_call
from aegis.testing.mcp_server import McpTestServer
from aegis_claude import driver as claude_driver
from aegis_claude.config import ClaudeCode
from tests.providers.claude.helpers import Recorder, open_driver
from tests.support.clis import claude_env, cli_path

pytestmark = pytest.mark.anyio

TOKEN = f"aegis-token-{uuid.uuid4().hex}"

# Run as another process: what it can read of claude and of the disk.
SCAN = r"""
import os, sys
pid, token, project, temp = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3], sys.argv[4]
found = []

def look(where, data):
    if token in data:
        found.append(where)

for name in ("cmdline", "environ"):
    look(f"/proc/{pid}/{name}", open(f"/proc/{pid}/{name}", "rb").read())
for fd in os.listdir(f"/proc/{pid}/fd"):
    path = f"/proc/{pid}/fd/{fd}"
    try:
        target = os.readlink(path)
    except OSError:
        continue
    # Its stdio pipes carry the conversation; reading them would steal from it.
    if fd in ("0", "1", "2") or target.startswith(("socket:", "anon_inode:", "/dev/")):
        continue
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        continue
    try:
        look(f"{path} -> {target}", os.read(handle, 1 << 20))
    except OSError:
        pass
    finally:
        os.close(handle)
for folder, recursive in ((temp, False), (project, True)):
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                if os.path.isfile(path) and os.path.getsize(path) < (1 << 20):
                    look(path, open(path, "rb").read())
            except OSError:
                pass
        if not recursive:
            break
print("\n".join(found))
"""


def _record(request: ModelRequest) -> Reply:
    return Reply(tool_calls=[mcp_call(request, "aegis", "record", {"note": "token-test"})])


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(Script().on(r"record a note", _record)) as server:
        yield server


@pytest.fixture(scope="module")
def mcp() -> Iterator[McpTestServer]:
    with McpTestServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def leftover() -> Iterator[Path]:
    """An MCP configuration file an earlier aegis left behind, an hour old."""
    fd, name = tempfile.mkstemp(prefix="aegis-mcp-", suffix=".json")
    os.write(fd, b'{"mcpServers": {}}')
    os.close(fd)
    path = Path(name)
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    yield path
    path.unlink(missing_ok=True)


async def test_the_token_is_unreadable_by_another_process_once_claude_started(
    model: FakeModelServer,
    mcp: McpTestServer,
    leftover: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(claude_driver, "_swept", False)  # as in a fresh process
    project = tmp_path / "project"
    project.mkdir()
    recorder = Recorder()
    config = ClaudeCode(
        executable=str(cli_path("claude")), permission=Permission.full, strict_mcp_config=True
    )
    driver = open_driver(
        config,
        project,
        recorder,
        env=claude_env(tmp_path, model.url).env,
        mcp_servers=(mcp.mcp_server("aegis"),),
    )
    async with driver:
        with anyio.fail_after(60):
            await driver.start()
            # claude did get the configuration: its call reaches the server with the token.
            await driver.prompt("record a note please")
        [result] = recorder.of(ToolResult)
        assert result.ok and "recorded: token-test" in result.output
        [call] = mcp.wait_for_calls(1)
        assert call.headers["authorization"] == f"Bearer {TOKEN}"

        assert driver.process is not None
        scan = await anyio.to_thread.run_sync(
            lambda: subprocess.run(
                [
                    sys.executable,
                    "-c",
                    SCAN,
                    str(driver.process.pid if driver.process else 0),
                    TOKEN,
                    str(tmp_path),
                    tempfile.gettempdir(),
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
        )
        assert scan.stdout.strip() == "", f"the token is readable at: {scan.stdout}"
    assert not leftover.exists(), "a configuration left behind is swept at start-up"
