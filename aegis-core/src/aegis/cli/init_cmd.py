"""``aegis init``: write a starter ``.aegis.py`` that teaches the format."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import click

from aegis.cli._errors import CliError
from aegis.known_providers import KNOWN_PROVIDERS
from aegis.project_files import CONFIG_NAME


@dataclass(frozen=True)
class _Harness:
    executable: str
    provider: str
    config_class: str
    package: str
    import_from: str
    example: str


HARNESSES = tuple(
    _Harness(
        known.executable,
        known.name,
        known.config_class,
        known.distribution,
        f"{known.module}.config",
        known.example,
    )
    for known in KNOWN_PROVIDERS
)

HEADER = '''\
"""aegis project configuration.

aegis runs this file (it is plain Python) and reads three names from it:

  agents         name -> Agent: the profiles you can spawn sessions of
  default_agent  the profile used when none is named
  queues         a list of Queue: named pools of worker agents

Functions decorated with @workflow become workflows: `aegis workflow run NAME`.

Check it with `aegis config check`; `aegis config show` prints what aegis understood.
"""

from aegis.config import Agent
from aegis.builtins.scripted import Scripted, ScriptRule, ScriptedToolCall
from aegis.queue import Queue
from aegis.workflow import workflow
'''


def render(found: list[_Harness], installed: set[str]) -> str:
    """The text of a starter ``.aegis.py`` for the harness CLIs in ``found``."""
    usable = [h for h in found if h.provider in installed]
    lines = [HEADER]
    for harness in usable:
        lines.append(f"from {harness.import_from} import {harness.config_class}")
    lines.append("")
    lines.append("agents = {")
    for harness in found:
        if harness in usable:
            lines.append(f"    # `{harness.executable}` was found on your PATH.")
            lines.append(f'    "{harness.executable}": Agent(provider={harness.example}),')
        else:
            lines.append(
                f"    # `{harness.executable}` is on your PATH; `pip install {harness.package}` "
                "to drive it, then:"
            )
            lines.append(f'    # "{harness.executable}": Agent(provider={harness.example}),')
    lines.extend(
        [
            "    # The built-in offline agent: replies come from these rules (regular",
            "    # expression -> reply and/or tool calls), the rest is echoed. It needs no",
            "    # network and no account: use it to try aegis and to test your workflows.",
            '    "offline": Agent(',
            '        description="scripted offline agent",',
            "        provider=Scripted(rules=[",
            '            ScriptRule(match=r"(?i)hello", reply="Hello! I am a scripted agent."),',
            "            ScriptRule(",
            '                match=r"(?i)list the files",',
            '                tool_calls=[ScriptedToolCall(tool="bash", input={"command": "ls"})],',
            '                reply="Those are the files.",',
            "            ),",
            "        ]),",
            "    ),",
            "    # The flat shape works too:",
            '    #   Agent(harness="claude-code", model="opus", effort="high", permission="auto")',
            "    # permission: read (plan only), write (edit files), full (anything), auto (the",
            "    # CLI's default).",
            "}",
            "",
        ]
    )
    default = usable[0].executable if usable else "offline"
    lines.append(f'default_agent = "{default}"')
    lines.extend(
        [
            "",
            "# Tasks enqueued on a queue each run on a fresh session of its agent profile,",
            '# at most max_parallel at a time: `aegis queue enqueue review "..."`.',
            "queues = [",
            f'    Queue("review", agent_profile="{default}", max_parallel=2),',
            "]",
            "",
            "",
            "# A workflow: plain async Python driving agents. Run it with",
            "#   aegis workflow run greet --arg who=Ada",
            "@workflow",
            'async def greet(engine, who: str = "world") -> str:',
            '    """Ask the default agent to greet someone, and return its answer."""',
            '    return await engine.delegate("review", f"hello {who}")',
            "",
        ]
    )
    return "\n".join(lines)


@click.command()
@click.option("--force", is_flag=True, help="Overwrite an existing .aegis.py.")
@click.option(
    "--path",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Folder to write .aegis.py in.",
)
def init(force: bool, folder: Path) -> None:
    """Write a starter .aegis.py for the agent CLIs found on your PATH.

    It defines one agent profile per CLI found (claude, gemini, opencode) whose
    aegis provider package is installed, plus the built-in offline agent, a queue
    and a workflow, with comments that explain the format. An existing file is
    kept unless --force is given.
    """
    from aegis.registry import get_registry

    target = folder / CONFIG_NAME
    if target.exists() and not force:
        raise CliError(f"{target} already exists", hint="use --force to overwrite it")
    installed = set(get_registry().names())
    found = [h for h in HARNESSES if shutil.which(h.executable)]
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(render(found, installed), encoding="utf-8")
    click.echo(f"wrote {target}")
    for harness in found:
        state = "" if harness.provider in installed else f" (pip install {harness.package})"
        click.echo(f"  agent {harness.executable!r}: {harness.executable} found on PATH{state}")
    click.echo("  agent 'offline': the built-in scripted agent")
    click.echo("next: `aegis config check`, then `aegis` or `aegis ask offline hello`")
