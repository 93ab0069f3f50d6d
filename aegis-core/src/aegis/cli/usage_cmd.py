"""``aegis usage``: what the project's agents spent, totalled, and where its budgets stand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from aegis.cli._context import load_project, print_json, print_table
from aegis.cli._errors import CliError

if TYPE_CHECKING:
    from aegis.usage.ledger import Total


class _When(click.ParamType):  # type: ignore[type-arg]  # generic in recent click only
    name = "when"

    def __init__(self, *, end: bool = False) -> None:
        self.end = end

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        from aegis.usage.report import parse_when

        try:
            return parse_when(str(value), end=self.end)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _cost(total: Total) -> str:
    return "-" if total.cost_usd is None else f"${total.cost_usd:.4f}"


def _row(key: str, total: Total) -> list[str]:
    from aegis.usage.report import short_tokens

    return [
        key,
        str(total.turns),
        short_tokens(total.input_tokens),
        short_tokens(total.cache_read_tokens),
        short_tokens(total.output_tokens),
        _cost(total),
    ]


_NONE = {
    "queue": "(no queue)",
    "run": "(no workflow run)",
}


@click.command()
@click.option(
    "--by",
    type=click.Choice(["day", "session", "profile", "provider", "queue", "run"]),
    default="day",
    show_default=True,
    help="What to total per: a UTC day, a session, an agent profile, a provider, a "
    "queue, a workflow run.",
)
@click.option("--since", type=_When(), help="Only turns ended from then on: WHEN.")
@click.option("--until", type=_When(end=True), help="Only turns ended before then: WHEN.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (totals, and budgets).")
@click.pass_context
def usage(
    ctx: click.Context, by: str, since: float | None, until: float | None, as_json: bool
) -> None:
    """Tokens and cost the project's agents spent, totalled, and its budgets.

    Every turn of every session aegis runs for the project is recorded in
    .aegis/usage.db: its tokens (input, cache reads among them, output) and the cost
    its CLI reported (claude and opencode report one; gemini does not). This
    totals them per day (UTC), session, profile, provider, queue or workflow run,
    over a window:

    \b
      aegis usage                              per day, all time
      aegis usage --by queue --since today     per queue, today
      aegis usage --by run --since 7d          per workflow run, the last 7 days
      aegis usage --by profile --since 2026-12-01 --until 2026-12-03 --json

    WHEN is a UTC date (2026-12-01; as --until, the end of that day), a time
    (2026-12-01T09:30, UTC unless it names its offset), today, yesterday, or an
    age (30m, 12h, 7d, 2w). Below the totals, the budgets of .aegis.py and what was
    spent against them today (see `limits = Limits(...)` and `Queue(budget=...)` in
    docs/usage.md). Reads the records: needs no daemon.
    """
    from aegis.usage.report import as_json as report_json
    from aegis.usage.report import short_tokens, usage_report

    if since is not None and until is not None and since >= until:
        raise CliError("--since is not before --until", hint="the window would be empty")
    project = load_project(ctx)
    report = usage_report(project, by=by, since=since, until=until)  # type: ignore[arg-type]
    if as_json:
        print_json(report_json(report))
        return
    if not report.total.turns:
        click.echo("no usage recorded" + (" in that window" if since or until else " yet"))
    else:
        rows = [_row(g.key or _NONE.get(by, "-"), g) for g in report.groups]
        rows.append(_row("total", report.total))
        print_table([by.upper(), "TURNS", "INPUT", "CACHED", "OUTPUT", "COST"], rows)
    if report.budgets or report.provider_limits:
        click.echo()
        budget_rows = []
        for b in report.budgets:
            what = {"daily": "project, per day", "queue": f"queue {b.name}, per day"}.get(
                b.scope, f"each run of {b.name}" if b.name else "each workflow run"
            )
            spent = (
                "-" if b.spent is None else f"{_cost(b.spent)}, {short_tokens(b.spent.tokens)} tok"
            )
            state = "REACHED" if b.reached else "ok" if b.spent is not None else "-"
            budget_rows.append([what, b.ceiling, spent, state])
        for provider, cap in sorted(report.provider_limits.items()):
            budget_rows.append([f"{provider} queue workers", f"{cap} at once", "-", "-"])
        print_table(["BUDGET", "CEILING", "SPENT TODAY (UTC)", "STATE"], budget_rows)
        for b in report.budgets:
            if b.reached:
                click.secho(f"reached: {b.reached}", fg="yellow")
