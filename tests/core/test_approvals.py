"""Approval rules, the permission gate and the registry of pending approvals."""

from __future__ import annotations

import anyio
import pytest

from aegis.approvals import ApprovalRegistry, BadDecision, PermissionGate, ToolPermission
from aegis.approvals.registry import approval_notification
from aegis.config import Agent, Approvals, ConfigError, Permission
from aegis.config.approvals import Rule
from aegis.events import Event, PermissionAnswer, PermissionRequest, ToolKind, from_dict, to_dict
from aegis.notify import Notification

pytestmark = pytest.mark.anyio

BASH = ToolKind.execute


def shell(command: str, name: str = "Bash") -> ToolPermission:
    return ToolPermission("call-1", name, BASH, {"command": command}, title=f"{name}: {command}")


def edit(path: str) -> ToolPermission:
    return ToolPermission("call-2", "Edit", ToolKind.edit, {"file_path": path}, paths=(path,))


@pytest.mark.parametrize(
    ("rule", "tool", "matches"),
    [
        ("execute", shell("ls"), True),
        ("edit", shell("ls"), False),
        ("Bash", shell("ls"), True),
        ("run_shell_command", shell("ls"), False),
        ("mcp__github__*", shell("ls", name="mcp__github__create_issue"), True),
        ("Bash(git *)", shell("git status"), True),
        ("Bash(git *)", shell("rm -rf /"), False),
        ("Bash(git diff:*)", shell("git diff"), True),
        ("Bash(git diff:*)", shell("git diff --stat"), True),
        ("Bash(git diff:*)", shell("git difftool"), False),
        ("execute(npm test)", shell("npm test"), True),
        ("edit(src/*)", edit("src/deep/app.py"), True),
        ("edit(src/*)", edit("docs/index.md"), False),
        ("*", edit("anything"), True),
    ],
)
def test_a_rule_matches_by_kind_name_and_argument(
    rule: str, tool: ToolPermission, matches: bool
) -> None:
    assert Rule.parse(rule).matches(tool.name, tool.kind, tool.subjects) is matches


def test_a_malformed_rule_or_timeout_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not an approval rule"):
        Approvals(ask=["(git *)"])
    with pytest.raises(ConfigError, match="timeout must be positive"):
        Approvals(timeout=0)
    assert Agent(harness="scripted", approvals=Approvals(ask="execute")).approvals.ask == (
        "execute",
    )


async def test_deny_beats_allow_beats_ask_beats_the_level() -> None:
    asked: list[str] = []

    async def ask(tool: ToolPermission, rule: str, timeout: float) -> PermissionAnswer:
        asked.append(rule)
        return PermissionAnswer("a1", "allow_once")

    gate = PermissionGate(
        Approvals(allow=["Bash(git *)"], deny=["Bash(git push*)"], ask=["execute"]), ask=ask
    )
    pushed = await gate.decide(Permission.full, shell("git push origin main"))
    assert not pushed.allowed and "deny 'Bash(git push*)'" in pushed.message
    assert (await gate.decide(Permission.read, shell("git status"))).allowed
    assert (await gate.decide(Permission.read, shell("make"))).allowed and asked == ["execute"]
    # No rule: the permission level's table, nobody asked.
    assert not (await gate.decide(Permission.read, edit("a.py"))).allowed
    assert (await gate.decide(Permission.write, edit("a.py"))).allowed
    assert asked == ["execute"]


async def test_an_ask_rule_with_nobody_to_ask_refuses() -> None:
    verdict = await PermissionGate(Approvals(ask=["*"])).decide(Permission.full, shell("ls"))
    assert not verdict.allowed and "nobody can be asked" in verdict.message


async def test_allowed_for_the_session_is_not_asked_again() -> None:
    registry = ApprovalRegistry()
    events: list[Event] = []
    gate = PermissionGate(Approvals(ask=["execute"]), ask=registry.asker("s", events.append))

    async def answer_each(decision: str) -> None:
        while not registry.pending():
            await registry.changed()
        registry.answer(registry.pending()[0].request.id, decision)

    async with anyio.create_task_group() as tg:
        tg.start_soon(answer_each, "allow_session")
        assert (await gate.decide(Permission.auto, shell("make"))).allowed
    assert (await gate.decide(Permission.auto, shell("make test"))).allowed
    assert [type(e) for e in events] == [PermissionRequest, PermissionAnswer]


async def test_the_first_answer_wins_and_a_second_is_told_it() -> None:
    registry = ApprovalRegistry()
    events: list[Event] = []
    results: list[PermissionAnswer] = []

    async def ask() -> None:
        results.append(await registry.ask("s", events.append, shell("make"), "execute", 60))

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        while not registry.pending("s"):
            await registry.changed()
        [pending] = registry.pending()
        assert registry.pending("other") == []
        approval_id = pending.request.id
        assert pending.as_dict()["session"] == "s"
        with pytest.raises(BadDecision):
            registry.answer(approval_id, "maybe")
        assert registry.answer(approval_id, "deny", " not now ", by="client:a")[0]
        taken, holding = registry.answer(approval_id, "allow_once", by="client:b")
        assert not taken and holding.by == "client:a"
    assert results == [PermissionAnswer(approval_id, "deny", "not now", "client:a")]
    # Settled: a late answer still gets the first, and the events tell the whole story.
    assert registry.answer(approval_id, "allow_once") == (False, results[0])
    request, answer = events
    assert isinstance(request, PermissionRequest) and request.rule == "execute"
    assert answer == results[0]
    assert from_dict(to_dict(request)) == request
    assert from_dict(to_dict(answer)) == answer


async def test_unanswered_requests_time_out_and_cancelled_ones_are_answered() -> None:
    registry = ApprovalRegistry()
    events: list[Event] = []
    answer = await registry.ask("s", events.append, shell("make"), "execute", 0.05)
    assert (answer.decision, answer.by) == ("deny", "aegis")
    assert "nobody answered" in answer.reason

    with anyio.move_on_after(0.05):
        await registry.ask("s", events.append, shell("make"), "execute", 60)
    assert registry.pending() == []
    last = events[-1]
    assert isinstance(last, PermissionAnswer) and last.decision == "deny"
    assert "turn ended" in last.reason


async def test_a_failing_notifier_does_not_cost_the_request() -> None:
    def broken(session: str, request: PermissionRequest) -> None:
        raise RuntimeError("no desktop")

    registry = ApprovalRegistry(notify=broken)
    answer = await registry.ask("s", lambda event: None, shell("make"), "execute", 0.01)
    assert answer.decision == "deny"


async def test_each_request_sends_an_approval_needed_notification() -> None:
    sent: list[Notification] = []
    registry = ApprovalRegistry(
        notify=lambda session, request: sent.append(approval_notification(session, request))
    )
    answer = await registry.ask("s", lambda event: None, shell("make"), "execute", 0.01)
    [notification] = sent
    assert (notification.kind, notification.session) == ("approval_needed", "s")
    assert notification.approval_id == answer.id
    assert notification.title == "s asks to run Bash" and "Bash: make" in notification.body
