"""Approvals end to end: the real claude, gemini and opencode, under permission ``write``,
each asking to run a shell command that the profile's rule (by the CLI's name of its shell
tool and the command: ``Bash(*touch*)``, ``run_shell_command(*touch*)``, ``bash(*touch*)``)
sends to a person, answered through the daemon.

One daemon for the module, one session per CLI, five turns each:

* allowed once: the command runs, the turn goes on;
* refused with a reason: the command does not run, and the reason reaches the model;
* nobody answers: refused after the profile's timeout, with a reason the model sees;
* interrupted while it waits: refused, the turn cancelled, the session goes on;
* a second attached client answers "allow for the rest of the session" while the first
  follows the session; the first's own, later answer is told the first one holds.

(That the session then runs the tool without asking is the gate's, checked with the
offline agent in tests/cli/test_approval_prompts.py and tests/core/test_approvals.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest

from aegis.daemon.client import DaemonClient, Numbered
from aegis.events import Event, PermissionAnswer, PermissionRequest, StopReason, TurnEnd
from aegis.testing.fakemodel import FakeModelServer, ModelRequest, Reply, Script, shell_call
from tests.daemon.conftest import make_project, start_daemon, stop_daemon
from tests.e2e.test_exit_paths import processes_in
from tests.support.clis import GEMINI_MODEL, claude_env, gemini_env, opencode_env

pytestmark = pytest.mark.anyio

TIMEOUT_S = 6.0
"""The profiles' approval timeout: long enough for a client to answer on a loaded
machine, short enough for the test that waits it out."""

TURN_S = 120.0


def _touch(request: ModelRequest) -> Reply:
    name = request.user_text.rsplit(" ", 1)[-1]
    return Reply(tool_calls=[shell_call(request, f"sh -c 'touch {name}'")])


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer(Script().on(r"please touch \S+$", _touch)) as server:
        yield server


@pytest.fixture(scope="module")
def project(model: FakeModelServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project with one profile per CLI, asking a person about every command."""
    tmp = tmp_path_factory.mktemp("approvals")
    folder = tmp / "project"
    folder.mkdir()
    claude = claude_env(tmp / "claude", model.url)
    gemini = gemini_env(tmp / "gemini", model.url)
    opencode = opencode_env(tmp / "opencode", model.url, project=folder)
    # By each CLI's own name of its shell tool, and the command's pattern.
    shells = ["Bash(*touch*)", "run_shell_command(*touch*)", "bash(*touch*)"]
    rules = f"approvals=Approvals(ask={shells!r}, timeout={TIMEOUT_S})"
    config = (
        "from aegis.config import Agent, Approvals, ClaudeCode, GeminiCLI, OpenCode\n"
        "agents = {\n"
        f"  'claude': Agent(provider=ClaudeCode(permission='write', "
        f"executable={str(claude.executable)!r}, env={claude.env!r}), {rules}),\n"
        f"  'gemini': Agent(provider=GeminiCLI(permission='write', model={GEMINI_MODEL!r}, "
        f"executable={str(gemini.executable)!r}, env={gemini.env!r}), {rules}),\n"
        f"  'opencode': Agent(provider=OpenCode(permission='write', "
        f"executable={str(opencode.executable)!r}, env={opencode.env!r}), {rules}),\n"
        "}\n"
        "default_agent = 'claude'\n"
    )
    make_project(folder, config)
    start_daemon(folder)
    try:
        yield folder
    finally:
        stop_daemon(folder)
    assert processes_in(folder) == []


class Turn:
    """What one turn's events said."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def end(self) -> TurnEnd:
        end = self.events[-1]
        assert isinstance(end, TurnEnd)
        return end


async def turn(
    client: DaemonClient,
    handle: str,
    text: str,
    on_request: object = None,
) -> Turn:
    """Send ``text`` and follow the session's events (as an attached client) to the end of
    the turn, calling ``on_request(request)`` for each permission request."""
    after = (await client.session(handle)).seq
    await client.send(handle, text)
    seen = Turn()
    async with aclosing(client.events(handle, after)) as items:
        async for item in items:
            assert isinstance(item, Numbered), item
            seen.events.append(item.event)
            if isinstance(item.event, PermissionRequest) and on_request is not None:
                await on_request(item.event)  # type: ignore[operator]
            if isinstance(item.event, TurnEnd):
                return seen
    raise AssertionError("the event stream ended")


def requested(model: FakeModelServer, text: str) -> bool:
    """Whether the model was sent ``text`` (in a prompt or a tool's result)."""
    return any(
        text in request.user_text or any(text in r.output for r in request.tool_results)
        for request in model.requests
    )


@pytest.mark.parametrize("profile", ["claude", "gemini", "opencode"])
async def test_a_person_answers_a_real_cli_s_permission_requests(
    profile: str, project: Path, model: FakeModelServer
) -> None:
    first = DaemonClient(project / ".aegis", name="first")
    second = DaemonClient(project / ".aegis", name="second")
    with anyio.fail_after(60):
        handle = (await first.spawn(profile)).handle

    # Allowed once: the command runs, and the turn goes on.
    async def allow(request: PermissionRequest) -> None:
        assert request.kind.value == "execute"
        assert request.rule == f"{request.name}(*touch*)"
        assert f"{profile}-allowed" in str(request.input) + request.title
        assert [a["id"] for a in await second.approvals()] == [request.id]
        taken, _ = await first.answer_approval(request.id, "allow_once")
        assert taken

    with anyio.fail_after(TURN_S):
        allowed = await turn(first, handle, f"please touch {profile}-allowed", allow)
    assert allowed.end.ok, allowed.end.error
    [answer] = allowed.of(PermissionAnswer)
    assert (answer.decision, answer.by) == ("allow_once", "client:first")
    assert (project / f"{profile}-allowed").exists()
    assert await first.approvals() == []

    # Refused with a reason: the command does not run, and the model is told why.
    reason = f"no new files from {profile} today"

    async def deny(request: PermissionRequest) -> None:
        await first.answer_approval(request.id, "deny", reason)

    with anyio.fail_after(TURN_S):
        denied = await turn(first, handle, f"please touch {profile}-denied", deny)
    assert denied.end.ok, denied.end.error
    assert [a.decision for a in denied.of(PermissionAnswer)] == ["deny"]
    assert not (project / f"{profile}-denied").exists()
    assert requested(model, reason)

    # Nobody answers: refused after the profile's timeout, and the model is told so.
    with anyio.fail_after(TURN_S):
        unanswered = await turn(first, handle, f"please touch {profile}-unanswered")
    [timed_out] = unanswered.of(PermissionAnswer)
    assert (timed_out.decision, timed_out.by) == ("deny", "aegis")
    assert unanswered.end.ok, unanswered.end.error
    assert not (project / f"{profile}-unanswered").exists()
    assert requested(model, f"within {TIMEOUT_S:g} s")

    # Interrupted while it waits: the request ends refused (never left open), the turn
    # ends cancelled, and the session goes on.
    async def interrupt(request: PermissionRequest) -> None:
        await second.interrupt(handle)

    with anyio.fail_after(TURN_S):
        interrupted = await turn(first, handle, f"please touch {profile}-interrupted", interrupt)
    [cut] = interrupted.of(PermissionAnswer)
    assert (cut.decision, cut.by) == ("deny", "aegis")
    assert interrupted.end.stop_reason is StopReason.cancelled
    assert not (project / f"{profile}-interrupted").exists()
    assert await first.approvals() == []

    # A second client answers while the first follows; the first answer holds.
    async def second_answers(request: PermissionRequest) -> None:
        taken, _ = await second.answer_approval(request.id, "allow_session")
        assert taken
        taken, holding = await first.answer_approval(request.id, "deny", "too late")
        assert not taken and holding.decision == "allow_session"

    with anyio.fail_after(TURN_S):
        remembered = await turn(first, handle, f"please touch {profile}-session", second_answers)
    assert remembered.end.ok, remembered.end.error
    [answer] = remembered.of(PermissionAnswer)
    assert (answer.decision, answer.by) == ("allow_session", "client:second")
    assert (project / f"{profile}-session").exists()

    with anyio.fail_after(60):
        await first.close(handle)
