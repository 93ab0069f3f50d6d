"""``aegis canvas``: the project's shared canvases, in the daemon (list, open, show, write)."""

from __future__ import annotations

import click

from aegis.cli._client import project_daemon, run_client
from aegis.cli._context import load_project, print_json, print_table, read_text_argument
from aegis.cli.term_cmd import _need_daemon


@click.group()
def canvas() -> None:
    """The project's shared canvases: Markdown documents written section by section.

    A canvas binds a name to a Markdown file (.aegis/canvases/NAME.md, or a file of
    the project); its sections are its `## ` headings. Agents write them with their
    aegis_canvas_* tools; what you write here is recorded as `user`, and the file can
    be edited in any editor as well.

    \b
    Examples:
      aegis canvas open plan --path PLAN.md
      aegis canvas write plan Goals 'Ship the login page'
      echo '- flaky test in auth' | aegis canvas write plan Findings --append
      aegis canvas show plan --section Findings
    """


@canvas.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the canvases as JSON.")
@click.pass_context
def list_canvases(ctx: click.Context, as_json: bool) -> None:
    """List the canvases: name, file, sections and subscribers."""
    _need_daemon(ctx)
    project = load_project(ctx)

    async def main() -> int:
        canvases = await (await project_daemon(project, name="cli:canvas")).canvases()
        if as_json:
            print_json(canvases)
        elif not canvases:
            click.echo("no canvases (aegis canvas open NAME opens one)", err=True)
        else:
            rows = [
                [
                    c["name"],
                    c["path"],
                    ", ".join(c["sections"]) or "-",
                    ", ".join(c["subscribers"]) or "-",
                ]
                for c in canvases
            ]
            print_table(["NAME", "FILE", "SECTIONS", "SUBSCRIBERS"], rows)
        return 0

    ctx.exit(run_client(main))


@canvas.command("open")
@click.argument("name")
@click.option("--path", help="Its Markdown file in the project (default .aegis/canvases/NAME.md).")
@click.pass_context
def open_canvas(ctx: click.Context, name: str, path: str | None) -> None:
    """Open canvas NAME (its file is created if missing) and print its file's path."""
    _need_daemon(ctx)
    project = load_project(ctx)

    async def main() -> int:
        info = await (await project_daemon(project, name="cli:canvas")).open_canvas(name, path=path)
        click.echo(info["path"])
        return 0

    ctx.exit(run_client(main))


@canvas.command("show")
@click.argument("name")
@click.option("--section", help="Only this section's body ('' for the text before the first).")
@click.pass_context
def show(ctx: click.Context, name: str, section: str | None) -> None:
    """Print canvas NAME as it is on disk, or one of its sections."""
    _need_daemon(ctx)
    project = load_project(ctx)

    async def main() -> int:
        client = await project_daemon(project, name="cli:canvas")
        click.echo((await client.read_canvas(name, section)).rstrip("\n"))
        return 0

    ctx.exit(run_client(main))


@canvas.command("write")
@click.argument("name")
@click.argument("section")
@click.argument("text", required=False)
@click.option("--append", is_flag=True, help="Add TEXT at the section's end instead.")
@click.pass_context
def write(ctx: click.Context, name: str, section: str, text: str | None, append: bool) -> None:
    """Replace SECTION of canvas NAME with TEXT (- or none: standard input), as `user`.

    A missing section is added at the end; the rest of the file is left as it is.
    Subscribed agents are told.
    """
    _need_daemon(ctx)
    project = load_project(ctx)
    body = read_text_argument(text, "the text")

    async def main() -> int:
        client = await project_daemon(project, name="cli:canvas")
        change = await client.write_canvas(name, section, body, append=append)
        click.echo(
            f"{name}: {section or '(preamble)'} +{change['added']} -{change['removed']}", err=True
        )
        return 0

    ctx.exit(run_client(main))
