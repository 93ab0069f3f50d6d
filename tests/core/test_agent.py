"""The agent profile (``aegis.config.Agent``) and the provider configuration classes."""

from __future__ import annotations

import pytest

import aegis
import aegis.config
from aegis.config import Agent, ConfigError, Effort, Permission
from aegis_claude.config import ClaudeCode
from aegis_gemini.config import GeminiCLI
from aegis_opencode.config import OpenCode

# --- the two construction shapes ----------------------------------------------------


def test_provider_shape_and_flat_shape_are_equal_after_validation() -> None:
    provider_shape = Agent(provider=ClaudeCode(model="opus", effort="high", permission="auto"))
    flat_shape = Agent(harness="claude-code", model="opus", effort="high", permission="auto")

    assert provider_shape == flat_shape
    assert type(flat_shape.provider) is ClaudeCode


@pytest.mark.parametrize(
    ("provider", "flat"),
    [
        (GeminiCLI(model="gemini-3-flash-preview", permission="full"),
         {"harness": "gemini", "model": "gemini-3-flash-preview", "permission": "full"}),
        (OpenCode(model="opencode/claude-sonnet-4-6"),
         {"harness": "opencode", "model": "opencode/claude-sonnet-4-6"}),
    ],
    ids=["gemini", "opencode"],
)  # fmt: skip
def test_each_provider_has_equal_provider_and_flat_shapes(provider: object, flat: dict) -> None:
    assert Agent(provider=provider) == Agent(**flat)


def test_flat_shape_accepts_aliases_and_enum_members() -> None:
    by_alias = Agent(harness="claude", model="opus", effort=Effort.max, permission=Permission.read)
    canonical = Agent(harness="claude-code", model="opus", effort="max", permission="read")

    assert by_alias == canonical
    assert by_alias.harness == "claude-code"


def test_agent_fields_are_readable_through_provider_and_flat_properties() -> None:
    agent = Agent(harness="claude-code", model="opus", effort="high", permission="write")

    assert (agent.provider.model, agent.model) == ("opus", "opus")
    assert agent.provider.permission is agent.permission is Permission.write
    assert agent.provider.effort is agent.effort is Effort.high
    assert agent.provider.harness == agent.harness == "claude-code"


def test_effort_property_is_none_for_providers_without_effort() -> None:
    agent = Agent(provider=GeminiCLI(model="gemini-3.1-pro"))

    assert agent.effort is None
    assert agent.permission is Permission.auto
    assert agent.harness == "gemini"


def test_agent_keeps_description_and_cwd_beside_the_provider(tmp_path) -> None:
    agent = Agent(harness="gemini", description="reviews diffs", cwd=tmp_path)

    assert agent.description == "reviews diffs"
    assert agent.cwd == tmp_path
    assert agent == Agent(provider=GeminiCLI(), description="reviews diffs", cwd=tmp_path)


def test_agent_survives_a_json_round_trip() -> None:
    agent = Agent(
        harness="claude-code", model="opus", effort="low", env={"K": "v"}, extra_args=["-x"]
    )

    assert Agent.model_validate_json(agent.model_dump_json()) == agent
    assert Agent(**agent.model_dump()) == agent


def test_agent_is_immutable() -> None:
    agent = Agent(harness="gemini")

    with pytest.raises(ValueError, match="frozen"):
        agent.description = "changed"  # type: ignore[misc]


# --- what the flat shape refuses ------------------------------------------------------


def test_flat_fields_beside_a_provider_object_are_refused_with_a_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(provider=ClaudeCode(), model="opus")

    assert caught.value.field == "model"
    assert "ClaudeCode(model=...)" in (caught.value.hint or "")


def test_harness_disagreeing_with_the_provider_object_is_refused() -> None:
    with pytest.raises(ConfigError, match="disagrees") as caught:
        Agent(harness="gemini", provider=ClaudeCode())

    assert caught.value.field == "harness"


def test_agent_without_provider_or_harness_is_refused_with_both_shapes_as_hint() -> None:
    with pytest.raises(ConfigError, match="needs a provider") as caught:
        Agent(description="nothing else")

    assert "Agent(provider=" in (caught.value.hint or "")
    assert "harness=" in (caught.value.hint or "")


# --- per-provider validation ----------------------------------------------------------


def test_effort_exists_only_on_claude_code() -> None:
    assert "effort" in ClaudeCode.model_fields
    assert "effort" not in GeminiCLI.model_fields
    assert "effort" not in OpenCode.model_fields


def test_effort_on_gemini_names_the_field_and_the_provider_that_has_it() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(harness="gemini", effort="high")

    error = caught.value
    assert error.field == "effort"
    assert "gemini has no field 'effort'" in error.message
    assert "only ClaudeCode has it" in error.message
    assert error.hint is not None
    assert "model, permission" in error.hint


def test_gemini_config_class_refuses_effort_itself() -> None:
    with pytest.raises(ValueError, match="effort"):
        GeminiCLI(model="gemini-3-flash-preview", effort="high")


@pytest.mark.parametrize(
    ("permission", "approval_mode"),
    [("read", "plan"), ("write", "auto_edit"), ("full", "yolo"), ("auto", "default")],
)
def test_gemini_permission_maps_to_approval_mode(permission: str, approval_mode: str) -> None:
    assert GeminiCLI(permission=permission).approval_mode == approval_mode


@pytest.mark.parametrize(
    ("permission", "permission_mode"),
    [
        ("read", "plan"),
        ("write", "acceptEdits"),
        ("full", "bypassPermissions"),
        ("auto", "default"),
    ],
)
def test_claude_permission_maps_to_permission_mode(permission: str, permission_mode: str) -> None:
    assert ClaudeCode(permission=permission).permission_mode == permission_mode


@pytest.mark.parametrize("model", ["opencode/claude-sonnet-4-6", "opencode/gpt-5", "anthropic/x"])
def test_opencode_accepts_provider_slash_model(model: str) -> None:
    assert Agent(harness="opencode", model=model).model == model


@pytest.mark.parametrize("model", ["gpt-5", "opencode/", "/gpt-5", "a b/c"])
def test_opencode_refuses_models_without_provider_prefix(model: str) -> None:
    with pytest.raises(ConfigError, match="provider/model") as caught:
        Agent(harness="opencode", model=model)

    assert caught.value.field == "model"


def test_bad_enum_value_lists_the_allowed_values() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(harness="claude-code", permission="root")

    error = caught.value
    assert error.field == "permission"
    assert "'root' is not a valid permission" in error.message
    for allowed in ("read", "write", "full", "auto"):
        assert f"'{allowed}'" in (error.hint or "")


def test_bad_effort_lists_the_allowed_efforts() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(harness="claude-code", effort="extreme")

    assert caught.value.field == "effort"
    for allowed in ("low", "medium", "high", "max"):
        assert f"'{allowed}'" in (caught.value.hint or "")


def test_every_problem_of_one_profile_is_reported_with_its_hint() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(harness="claude-code", permission="root", effort="extreme")

    text = str(caught.value)
    assert "'root' is not a valid permission" in text
    assert "'extreme' is not a valid effort" in text
    assert "'high'" in text  # the allowed efforts, not only the allowed permissions


def test_misspelled_field_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(harness="claude-code", modle="opus")

    assert caught.value.field == "modle"
    assert "did you mean 'model'?" in (caught.value.hint or "")


def test_wrong_type_names_the_expected_type() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(harness="claude-code", extra_args=5)

    assert caught.value.field == "extra_args"
    assert "ClaudeCode.extra_args takes tuple" in (caught.value.hint or "")


def test_unknown_harness_lists_the_installed_providers() -> None:
    with pytest.raises(ConfigError) as caught:
        Agent(harness="codex")

    error = caught.value
    assert error.field == "harness"
    assert "unknown provider 'codex'" in error.message
    for installed in ("claude-code", "gemini", "opencode", "scripted"):
        assert installed in error.message
    assert "aegis providers" in (error.hint or "")


# --- enums and the public surface -----------------------------------------------------


def test_permission_and_effort_are_string_enums() -> None:
    assert [p.value for p in Permission] == ["read", "write", "full", "auto"]
    assert [e.value for e in Effort] == ["low", "medium", "high", "max"]
    assert Permission("full") == "full"
    assert str(Effort.high) == "high"
    assert issubclass(Permission, str)
    assert issubclass(Effort, str)


def test_config_error_is_an_exception_whose_text_has_place_message_and_hint() -> None:
    error = ConfigError(
        "is wrong", path="/p/.aegis.py", line=3, profile="main", field="model", hint="fix it"
    )

    assert isinstance(error, Exception)
    assert str(error) == "/p/.aegis.py:3: agent 'main', field 'model': is wrong\n  hint: fix it"


def test_the_package_root_re_exports_the_config_names() -> None:
    assert aegis.Agent is Agent
    assert aegis.ConfigError is ConfigError
    assert aegis.load_config is aegis.config.load_config
    assert aegis.find_project_root is aegis.config.find_project_root
