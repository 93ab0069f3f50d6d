"""``aegis config check`` and ``aegis config show``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from aegis.cli._context import load_project, print_json

if TYPE_CHECKING:
    from aegis.config.agent import Agent
    from aegis.config.loader import Project


@click.group()
def config() -> None:
    """Check and show the project configuration (.aegis.py)."""


def agent_dict(agent: Agent) -> dict[str, Any]:
    """An agent profile as plain data, with secrets in ``env`` masked."""
    provider = agent.provider.model_dump(mode="json")
    provider["env"] = dict.fromkeys(provider.get("env", {}), "***")
    return {
        "harness": agent.harness,
        "description": agent.description,
        "cwd": str(agent.cwd) if agent.cwd else None,
        "provider": {"class": type(agent.provider).__name__, **provider},
        "approvals": agent.approvals.model_dump(mode="json"),
        "workspace": agent.workspace,
        "workspace_base": agent.workspace_base,
        "orchestrate": agent.orchestrate,
    }


def project_dict(project: Project) -> dict[str, Any]:
    return {
        "path": str(project.path),
        "root": str(project.root),
        "default_agent": project.default_agent,
        "agents": {name: agent_dict(agent) for name, agent in project.agents.items()},
        "queues": [
            {
                "name": q.name,
                "agent_profile": q.agent_profile,
                "max_parallel": q.max_parallel,
                "warm": q.warm,
                "budget": q.budget.model_dump() if q.budget else None,
            }
            for q in project.queues.values()
        ],
        "workflows": sorted(project.workflows),
        "limits": project.limits.model_dump(),
        "notifications": [_channel(config) for config in project.notifications],
    }


def _channel(config: Any) -> str:
    """One declared notification channel, as `aegis notifications --test` names it (a
    webhook's host only: its path may be a token), with what it is limited to."""
    text = str(config.channel().name)
    url_env = getattr(config, "url_env", None)
    if url_env:
        text += f" (URL from ${url_env})"
    kinds = getattr(config, "kinds", None)
    if kinds:
        text += f"; kinds: {', '.join(sorted(kinds))}"
    return text


def _missing_executables(project: Project) -> list[str]:
    from aegis.registry import get_registry

    registry = get_registry()
    warnings = []
    for name, agent in project.agents.items():
        provider = registry.get(agent.harness).provider
        if provider.executable and provider.find_executable(agent.provider) is None:
            command = agent.provider.executable or provider.executable
            hint = f" ({provider.install_hint})" if provider.install_hint else ""
            warnings.append(f"agent {name!r}: {command!r} is not on PATH{hint}")
    return warnings


@config.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Load .aegis.py and report what is wrong with it, if anything.

    Exits 0 when the configuration is valid (missing CLIs are warnings) and 1
    with the file, line, agent and field of the first problem otherwise.
    """
    project = load_project(ctx)
    click.echo(
        f"ok: {project.path}: {len(project.agents)} agent(s) (default: "
        f"{project.default_agent}), {len(project.queues)} queue(s), "
        f"{len(project.workflows)} workflow(s)"
    )
    for warning in _missing_executables(project):
        click.secho(f"warning: {warning}", fg="yellow", err=True)


@config.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Show the agents, queues and workflows .aegis.py defines, after validation.

    Values of `env` are masked.
    """
    project = load_project(ctx)
    data = project_dict(project)
    if as_json:
        print_json(data)
        return
    click.secho(f"# {data['path']}", dim=True)
    click.secho("agents:", bold=True)
    for name, agent in data["agents"].items():
        marker = " (default)" if name == data["default_agent"] else ""
        provider = agent["provider"]
        details = ", ".join(
            f"{key}={len(value)} item(s)" if isinstance(value, list) else f"{key}={value}"
            for key, value in provider.items()
            if key not in ("class", "harness") and value not in (None, [], {}, "")
        )
        click.echo(f"  {name}{marker}: {agent['harness']} [{details}]")
        if agent["description"]:
            click.secho(f"      {agent['description']}", dim=True)
        if agent["workspace"] != "project":
            base = agent["workspace_base"]
            click.echo(f"      workspace: {agent['workspace']}" + (f" from {base}" if base else ""))
        if agent["orchestrate"] != "own":
            click.echo(f"      orchestrate: {agent['orchestrate']}")
        rules = agent["approvals"]
        ruled = [f"{key} {', '.join(rules[key])}" for key in ("deny", "allow", "ask") if rules[key]]
        if ruled:
            click.echo(f"      approvals: {'; '.join(ruled)} (timeout {rules['timeout']:g} s)")
    click.secho("queues:", bold=True)
    for queue in data["queues"] or []:
        click.echo(
            f"  {queue['name']}: agent {queue['agent_profile']}, "
            f"max_parallel={queue['max_parallel']}"
            + (f", warm={queue['warm']}" if queue["warm"] else "")
            + (f", budget {_budget(queue['budget'])} a day" if queue["budget"] else "")
        )
    if not data["queues"]:
        click.echo("  (none)")
    click.secho("workflows:", bold=True)
    click.echo("  " + (", ".join(data["workflows"]) or "(none)"))
    if data["notifications"]:
        click.secho("notifications:", bold=True)
        for channel in data["notifications"]:
            click.echo(f"  {channel}")
    limits = data["limits"]
    if any(limits.values()):
        click.secho("limits:", bold=True)
        if limits["daily"]:
            click.echo(f"  the project: {_budget(limits['daily'])} a day (UTC)")
        if limits["workflow_run"]:
            click.echo(f"  each workflow run: {_budget(limits['workflow_run'])}")
        for name, budget in limits["workflows"].items():
            click.echo(f"  each run of {name}: {_budget(budget)}")
        for provider, cap in limits["providers"].items():
            click.echo(f"  {provider}: {cap} queue worker(s) at once")


def _budget(budget: dict[str, Any]) -> str:
    from aegis.usage.budget import Budget

    return Budget(**budget).describe()
