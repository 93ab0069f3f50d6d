"""The ``aegis`` command line.

Start-up is kept cheap: this module imports only click. Core sub-commands live in
their own modules and are imported when invoked (or when ``--help`` lists them);
plugin commands are added through the ``register_commands`` hook on first need.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from aegis import __version__

NO_DAEMON_ENV = "AEGIS_NO_DAEMON"
"""Set to 1 to run every command's agents in-process instead of in the project's daemon."""

CORE_COMMANDS: dict[str, str] = {
    "answer": "aegis.cli.questions_cmd:answer",
    "approvals": "aegis.cli.approvals_cmd:approvals",
    "ask": "aegis.cli.ask_cmd:ask",
    "attach": "aegis.cli.attach_cmd:attach",
    "canvas": "aegis.cli.canvas_cmd:canvas",
    "chat": "aegis.cli.chat_cmd:chat",
    "config": "aegis.cli.config_cmd:config",
    "daemon": "aegis.cli.daemon_cmd:daemon",
    "diff": "aegis.cli.diff_cmd:diff",
    "discard": "aegis.cli.discard_cmd:discard",
    "init": "aegis.cli.init_cmd:init",
    "land": "aegis.cli.land_cmd:land",
    "logs": "aegis.cli.logs_cmd:logs",
    "notifications": "aegis.cli.notifications_cmd:notifications",
    "plugins": "aegis.cli.plugins_cmd:plugins",
    "providers": "aegis.cli.providers_cmd:providers",
    "ps": "aegis.cli.ps_cmd:ps",
    "queue": "aegis.cli.queue_cmd:queue",
    "questions": "aegis.cli.questions_cmd:questions",
    "repair": "aegis.cli.repair_cmd:repair",
    "serve": "aegis.cli.serve_cmd:serve",
    "term": "aegis.cli.term_cmd:term",
    "worker": "aegis.cli.worker_cmd:worker",
    "usage": "aegis.cli.usage_cmd:usage",
    "workflow": "aegis.cli.workflow_cmd:workflow",
}
"""Core sub-commands: name -> ``module:attribute``, imported on first use."""


class AegisGroup(click.Group):
    """The ``aegis`` group: lazily loaded core commands, plugin commands, a default command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = dict(CORE_COMMANDS)
        self.default_command: str | None = None
        self._plugins_loaded = False

    def set_default_command(self, name: str) -> None:
        """Run command ``name`` when ``aegis`` is called without a sub-command."""
        self.default_command = name

    def load_plugin_commands(self) -> None:
        """Let plugins add their commands (once)."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from aegis import hookspecs
        from aegis.plugins import get_host

        plugins = get_host()
        before = {info.name for info in plugins.failures()}
        # One plugin at a time: a plugin whose hook raises loses its commands, not aegis.
        plugins.collect(hookspecs.register_commands, cli=self)
        for info in plugins.failures():
            if info.name not in before:
                click.secho(
                    f"warning: plugin {info.name!r} ({info.distribution}) could not add its "
                    f"commands: {info.error}",
                    fg="yellow",
                    err=True,
                )

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load_plugin_commands()
        return sorted({*self.lazy_commands, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module_name, _, attribute = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, cmd_name)
        if cmd_name not in self.commands:
            self.load_plugin_commands()
        return self.commands.get(cmd_name)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # The group's own options are parsed here, before `invoke`: `aegis --bogus`.
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            raise _as_cli_error(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        from aegis.errors import ConfigError, StateError, WorkspaceError

        try:
            return super().invoke(ctx)
        except (ConfigError, StateError, WorkspaceError, click.ClickException) as exc:
            # One voice for every error: click's usage errors and configuration
            # errors are shown as aegis's own (`error: ...` + `hint: ...`).
            raise _as_cli_error(exc) from None


def _as_cli_error(error: Exception) -> click.ClickException:
    from aegis.cli._errors import as_cli_error

    return as_cli_error(error)


@click.group(
    cls=AegisGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    __version__, "-V", "--version", prog_name="aegis", message="%(prog)s %(version)s"
)
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=True),
    envvar="AEGIS_CONFIG",
    help="The .aegis.py to use (or a folder holding one). Default: the closest "
    ".aegis.py above the current folder, then ~/.aegis.py.",
)
@click.option(
    "--no-daemon",
    is_flag=True,
    envvar=NO_DAEMON_ENV,
    help="Run this command's agents in this process, not in the project's daemon: they "
    f"stop when it ends. Also {NO_DAEMON_ENV}=1.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, no_daemon: bool) -> None:
    """aegis: run many coding agents together.

    aegis drives coding-agent CLIs (Claude Code, Gemini CLI, OpenCode, and any a
    plugin adds) as long-lived sessions, and adds agent profiles, queues of worker
    agents, workflows and an inbox between agents. Profiles, queues and workflows
    are defined in the project's .aegis.py; `aegis init` writes a starter one.

    Without a command, aegis opens its terminal UI when aegis-tui is installed.
    """
    ctx.obj = {"config_path": config_path, "no_daemon": no_daemon}
    if ctx.invoked_subcommand is not None:
        return
    group = ctx.command
    assert isinstance(group, AegisGroup)
    group.load_plugin_commands()
    default = group.default_command and group.get_command(ctx, group.default_command)
    if default:
        ctx.invoke(default)
    else:
        click.echo(ctx.get_help())


def main() -> None:
    """Entry point of the ``aegis`` console script."""
    try:
        cli(prog_name="aegis")
    except* BrokenPipeError:
        # The reader went away (`aegis ask ... | head`): leave quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
    finally:
        # The interpreter's shutdown would collect every object still alive, after the
        # command's last line: 15 to 25 ms of a client's time (a warm `aegis workflow
        # run`). Frozen objects are left to the process's exit (what only the collector
        # would free is not finalized; what reference counting frees still is).
        gc.freeze()
