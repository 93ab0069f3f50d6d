"""The protocol's route for usage: ``GET /v1/usage`` (totals, and the budgets' state).

Query: ``by`` (``day``, ``session``, ``profile``, ``provider``, ``queue``, ``run``;
none for the grand total only), ``since`` and ``until`` (the forms ``aegis usage``
takes). The answer is the JSON of ``aegis usage --json``, plus ``held``: the queues
the daemon's dispatchers hold now, with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aegis.daemon.routes import ApiError, _endpoint, _ok

if TYPE_CHECKING:
    from aegis.daemon.service import Daemon


async def usage(request: Request) -> Response:
    from aegis.usage.ledger import GROUPS
    from aegis.usage.report import as_json, build_report, parse_when

    daemon: Daemon = request.app.state.daemon
    params = request.query_params
    by = params.get("by") or None
    if by is not None and by not in GROUPS:
        raise ApiError(400, "bad_request", f"by must be one of {', '.join(GROUPS)}, not {by!r}")
    try:
        since = parse_when(params["since"]) if params.get("since") else None
        until = parse_when(params["until"], end=True) if params.get("until") else None
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    runtime = daemon.runtime
    await runtime.usage.flush()
    ledger = runtime.usage.ledger
    report = await anyio.to_thread.run_sync(
        lambda: build_report(ledger, daemon.project, by=by, since=since, until=until)
    )
    return _ok({**as_json(report), "held": dict(runtime.queues.held)})


def routes(prefix: str) -> list[Route]:
    return [Route(f"{prefix}/usage", _endpoint(usage), methods=["GET"])]
