"""The HTTP API of the daemon (protocol v1, described in ``docs/protocol.md``).

JSON in, JSON out; a session's events as Server-Sent Events. Every response carries
the daemon's protocol and aegis versions (``Aegis-Protocol``, ``Aegis-Version``); a
request that says it speaks another protocol version is refused with 409 and the
code ``protocol_mismatch``. Errors are ``{"error": {"code", "message", "hint"}}``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from functools import wraps
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aegis import __version__
from aegis.daemon.protocol import (
    API_PREFIX,
    CLIENT_HEADER,
    CONFIG_HEADER,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    VERSION_HEADER,
)
from aegis.events import to_dict
from aegis.session.info import SessionInfo

if TYPE_CHECKING:
    from aegis.daemon.service import Daemon

log = logging.getLogger("aegis.daemon")

VERSION_HEADERS = {PROTOCOL_HEADER: str(PROTOCOL_VERSION), VERSION_HEADER: __version__}

Handler = Callable[[Request], Awaitable[Response]]

MAX_WAIT_S = 300.0
"""The longest a long poll (``GET /v1/tasks/ID?wait=S``) waits."""


class ApiError(Exception):
    """An error the API answers with: an HTTP status, a code, a message and a hint."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint

    def response(self) -> JSONResponse:
        body = {"error": {"code": self.code, "message": self.message, "hint": self.hint}}
        return JSONResponse(body, status_code=self.status, headers=VERSION_HEADERS)


def _as_api_error(error: Exception) -> ApiError | None:
    from aegis.daemon import question_routes
    from aegis.daemon.approval_routes import api_error as approval_error
    from aegis.daemon.runs import UnknownRun
    from aegis.daemon.terminal_routes import api_error
    from aegis.errors import ConfigError, DriverError, MessageRefused, StateError, WorkspaceError
    from aegis.queue.backend import PayloadTooLarge
    from aegis.queue.manager import NotRetryable, UnknownQueue, UnknownTask
    from aegis.session.handles import HandleTaken
    from aegis.session.manager import SessionClosed, UnknownSession

    if isinstance(error, ApiError):
        return error
    if (found := api_error(error) or approval_error(error)) is not None:
        return found
    if (found := question_routes.api_error(error)) is not None:
        return found
    if isinstance(error, UnknownSession):
        return ApiError(404, "unknown_session", str(error), "`aegis ps` lists the sessions")
    if isinstance(error, UnknownTask):
        return ApiError(404, "unknown_task", str(error))
    if isinstance(error, NotRetryable):
        return ApiError(409, "not_retryable", str(error))
    if isinstance(error, UnknownRun):
        return ApiError(404, "unknown_run", str(error), "`aegis workflow runs` lists the runs")
    if isinstance(error, UnknownQueue):
        return ApiError(404, "unknown_queue", error.what, error.hint)
    if isinstance(error, PayloadTooLarge):
        return ApiError(413, "payload_too_large", str(error), error.hint)
    if isinstance(error, SessionClosed):
        return ApiError(409, "session_ended", str(error))
    if isinstance(error, HandleTaken):
        return ApiError(409, "handle_taken", str(error))
    if isinstance(error, MessageRefused):
        return ApiError(403, "message_refused", str(error))
    if isinstance(error, StateError):
        # The daemon's state on disk (a full disk, a damaged database): said as aegis says
        # it in-process, with the way out.
        return ApiError(503, "state_error", error.message, error.hint)
    if isinstance(error, ConfigError):
        return ApiError(400, "bad_request", error.message, error.hint)
    if isinstance(error, WorkspaceError):
        return ApiError(409, "workspace", error.message, error.hint)
    if isinstance(error, DriverError):
        return ApiError(502, "session_failed", str(error))
    return None


def _endpoint(handler: Handler) -> Handler:
    """Version check before, error mapping after, and the request counted meanwhile."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        daemon: Daemon = request.app.state.daemon
        spoken = request.headers.get(PROTOCOL_HEADER)
        if spoken is not None and spoken != str(PROTOCOL_VERSION):
            return ApiError(
                409,
                "protocol_mismatch",
                f"this daemon speaks protocol {PROTOCOL_VERSION} (aegis {__version__}); "
                f"the client speaks {spoken}",
                "restart the daemon with the client's aegis: `aegis daemon restart`",
            ).response()
        wanted = request.headers.get(CONFIG_HEADER)
        if wanted is not None and wanted != daemon.config_digest:
            return ApiError(
                409,
                "config_changed",
                f"this daemon runs {daemon.project.path.name} as it was when it started, "
                "not as it is now",
                "`aegis daemon restart` loads the file as it is (its sessions end)",
            ).response()
        daemon.requests += 1
        try:
            return await handler(request)
        except Exception as exc:
            error = _as_api_error(exc)
            if error is None:
                # A bug: its traceback goes to the log, and the client gets an answer in
                # the protocol's form (with the versions) rather than a bare 500.
                log.exception("%s %s failed", request.method, request.url.path)
                error = ApiError(
                    500,
                    "internal_error",
                    f"the daemon failed: {type(exc).__name__}: {exc}",
                    "its log has the details: `aegis daemon logs`",
                )
            return error.response()
        finally:
            daemon.requests -= 1

    return endpoint


def _ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=VERSION_HEADERS)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ApiError(400, "bad_request", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, *, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "bad_request", f"{key!r} must be a non-empty string")
    return value


def _sender(data: dict[str, Any]) -> str:
    """Clients speak as ``user`` or ``client:<name>``; the other senders are aegis's own."""
    sender = _text(data, "sender", default="user")
    if sender != "user" and not (sender.startswith("client:") and len(sender) > len("client:")):
        raise ApiError(400, "bad_request", f"sender {sender!r}: use 'user' or 'client:<name>'")
    return sender


def _client(request: Request) -> str:
    return request.headers.get(CLIENT_HEADER) or "client"


# --- views ------------------------------------------------------------------------------


def session_view(daemon: Daemon, info: SessionInfo) -> dict[str, Any]:
    """A session as the protocol shows it: the session's snapshot, plus its event count,
    who started it (as its spawner said, from its first event on) and when."""
    log = daemon.feed.logs.get(info.handle)
    return {
        **info.as_dict(),
        "seq": log.seq if log else 0,
        "started_at": log.first_at if log else None,
        "started_by": info.started_by or "aegis",
    }


# --- endpoints --------------------------------------------------------------------------


async def status(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    sessions = daemon.runtime.sessions.list_sessions()
    counts = await daemon.runtime.queues.counts()
    tasks = {
        status: sum(by_status.get(status, 0) for by_status in counts.values())
        for status in ("queued", "running")
    }
    return _ok(
        {
            "protocol": PROTOCOL_VERSION,
            "aegis_version": __version__,
            "pid": os.getpid(),
            "project": str(daemon.project.root),
            "started_at": daemon.started_at,
            "uptime_s": round(time.time() - daemon.started_at, 3),
            "idle_timeout_s": daemon.idle_timeout,
            "idle": await daemon.idle(serving=1),
            "ready": daemon.runtime.mcp is None or daemon.runtime.mcp.serving,
            "config_digest": daemon.config_digest,
            "sessions": {
                "live": sum(1 for s in sessions if s.state.live),
                "total": len(sessions),
            },
            "tasks": tasks,
            "workflows": {"running": len(daemon.runs.running)},
            "clients": [
                {"name": a.name, "handle": a.handle, "since": a.since} for a in daemon.attached
            ],
            "previous_crash": daemon.previous_crash,
        }
    )


async def list_sessions(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    if _flag(request, "follow", default=False):
        return EventStream(
            daemon,
            _client(request),
            "sessions",
            _session_changes(daemon),
            lambda stopping: {"reason": "daemon stopping" if stopping else "ended"},
        )
    infos = daemon.runtime.sessions.list_sessions()
    return _ok({"sessions": [session_view(daemon, info) for info in infos]})


async def _session_changes(daemon: Daemon) -> AsyncGenerator[dict[str, Any], None]:
    """Each session now, then each session again when it appears or changes state."""
    shown: dict[str, str] = {}
    seq = 0
    while True:
        changed = daemon.feed.sessions_changed()  # before looking: no change is missed
        for info in daemon.runtime.sessions.list_sessions():
            view = session_view(daemon, info)
            if shown.get(info.handle) != info.state.value:
                shown[info.handle] = info.state.value
                seq += 1
                yield {"seq": seq, "t": round(time.time(), 3), "type": "session", "session": view}
        await changed.wait()


async def spawn(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    data = await _body(request)
    profile = _text(data, "profile", default=daemon.project.default_agent)
    handle, resume = data.get("handle"), data.get("resume")
    if handle is not None and not isinstance(handle, str):
        raise ApiError(400, "bad_request", "'handle' must be a string")
    if resume is not None and not isinstance(resume, str):
        raise ApiError(400, "bad_request", "'resume' must be a string")
    if profile not in daemon.project.agents:
        raise ApiError(
            404,
            "unknown_profile",
            f"no agent profile {profile!r}",
            f"profiles: {', '.join(daemon.project.agents)}",
        )
    sessions = daemon.runtime.sessions
    started_by = _sender({"sender": data.get("started_by", "user")})
    handle = await sessions.spawn(profile, handle, wait=False, resume=resume, started_by=started_by)
    if data.get("wait", True):
        await sessions.wait_ready(handle)
    return _ok(session_view(daemon, sessions.get(handle)), 201)


async def show_session(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    info = daemon.runtime.sessions.get(request.path_params["handle"])
    return _ok(session_view(daemon, info))


async def close_session(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    handle = request.path_params["handle"]
    await daemon.runtime.sessions.close(handle)
    return _ok(session_view(daemon, daemon.runtime.sessions.get(handle)))


async def interrupt_session(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    handle = request.path_params["handle"]
    await daemon.runtime.sessions.interrupt(handle)
    return _ok(session_view(daemon, daemon.runtime.sessions.get(handle)))


async def send_message(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    handle = request.path_params["handle"]
    data = await _body(request)
    text, sender = _text(data, "text"), _sender(data)
    sessions = daemon.runtime.sessions
    if data.get("wait", False):
        end = await sessions.request(handle, text, sender=sender)
        return _ok({"turn_end": to_dict(end)})
    sessions.send(handle, text, sender=sender)
    return _ok({"queued": sessions.get(handle).queued}, 202)


async def session_events(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    handle = request.path_params["handle"]
    sessions = daemon.runtime.sessions
    if not sessions.known(handle):
        raise ApiError(404, "unknown_session", f"no session {handle!r}")
    after_seq = _after(request)
    follow = _flag(request, "follow", default=True)
    reason = "session ended" if follow else "replayed"
    return EventStream(
        daemon,
        _client(request),
        handle,
        daemon.feed.records(handle, after_seq, follow),
        lambda stopping: {"reason": "daemon stopping" if stopping else reason},
    )


def _after(request: Request) -> int:
    """Where a stream starts: ``?after=N`` or a reconnecting client's ``Last-Event-ID``."""
    after = request.query_params.get("after") or request.headers.get("last-event-id") or "0"
    try:
        return int(after)
    except ValueError:
        raise ApiError(400, "bad_request", f"after={after!r} is not a number") from None


def _flag(request: Request, name: str, *, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    return value.lower() not in ("0", "false", "no")


class EventStream(Response):
    """Numbered records as Server-Sent Events: ``id`` is the record's number (``seq``),
    ``data`` its JSON; a last ``event: end`` whose data ``end(stopping)`` gives says why
    the stream ended (``stopping``: the daemon stops).

    The stream counts as a client attached to ``subject`` (a session's handle, or
    ``workflow:<run id>``) while it is open, and the daemon ends it when it stops.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        daemon: Daemon,
        client: str,
        subject: str,
        records: AsyncGenerator[dict[str, Any], None],
        end: Callable[[bool], dict[str, Any]],
    ) -> None:
        # Not Response.__init__: it would declare an empty body (Content-Length: 0).
        self.status_code = 200
        self.background = None
        headers = {**VERSION_HEADERS, "Cache-Control": "no-store", "Content-Type": self.media_type}
        self.raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.daemon, self.client, self.subject = daemon, client, subject
        self.records, self.end = records, end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        stopping = False
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch_disconnect)
            records = self.records
            with self.daemon.stream(self.client, self.subject) as scope_:
                with scope_:
                    async with aclosing(records):
                        async for record in records:
                            data = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
                            chunk = f"id: {record['seq']}\ndata: {data}\n\n".encode()
                            await send(
                                {"type": "http.response.body", "body": chunk, "more_body": True}
                            )
                stopping = scope_.cancel_called
            end = json.dumps(self.end(stopping), ensure_ascii=False)
            await send(
                {
                    "type": "http.response.body",
                    "body": f"event: end\ndata: {end}\n\n".encode(),
                    "more_body": False,
                }
            )
            tg.cancel_scope.cancel()


async def enqueue(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    data = await _body(request)
    queues = daemon.runtime.queues
    task_id = await queues.enqueue(
        request.path_params["queue"], _text(data, "payload"), sender=_sender(data)
    )
    task = await queues.get(task_id)
    assert task is not None
    return _ok(task.as_dict(), 201)


async def queue_counts(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    counts = await daemon.runtime.queues.counts()
    return _ok(
        {
            "queues": {name: counts.get(name, {}) for name in daemon.project.queues},
            # With a leasing backend: the processes serving the queues, on every host.
            "workers": await daemon.runtime.queues.workers(),
            # The queues a budget stops now (their tasks stay queued), with the reason.
            "held": dict(daemon.runtime.queues.held),
        }
    )


async def list_tasks(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    params = request.query_params
    try:
        limit = int(params.get("limit", "100"))
    except ValueError:
        raise ApiError(400, "bad_request", "limit must be a number") from None
    status = params.get("status")
    from aegis.queue.task import TaskStatus

    if status is not None and status not in TaskStatus.__members__:
        raise ApiError(400, "bad_request", f"no task status {status!r}")
    tasks = await daemon.runtime.queues.list_tasks(params.get("queue"), status, limit)
    return _ok({"tasks": [task.as_dict() for task in tasks]})


async def show_task(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    from aegis.queue.manager import UnknownTask

    task_id = request.path_params["task_id"]
    queues = daemon.runtime.queues
    task = await queues.get(task_id)
    if task is None:
        raise UnknownTask(f"no task {task_id!r}")
    wait = request.query_params.get("wait")
    if wait is not None and not task.status.ended:
        # A long poll: answers once the task has ended, or after `wait` seconds.
        try:
            seconds = min(float(wait), MAX_WAIT_S)
        except ValueError:
            raise ApiError(400, "bad_request", f"wait={wait!r} is not a number") from None
        with anyio.move_on_after(seconds):
            task = await queues.wait(task_id)
    return _ok(task.as_dict())


def _limit(request: Request, default: int) -> int:
    try:
        limit = int(request.query_params.get("limit", str(default)))
    except ValueError:
        raise ApiError(400, "bad_request", "limit must be a number") from None
    if limit < 1:
        raise ApiError(400, "bad_request", "limit must be 1 or more")
    return limit


async def cancel_task(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    task = await daemon.runtime.queues.cancel(request.path_params["task_id"])
    return _ok(task.as_dict())


async def retry_task(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    queues = daemon.runtime.queues
    new_id = await queues.retry(request.path_params["task_id"])
    task = await queues.get(new_id)
    assert task is not None
    return _ok(task.as_dict(), 201)


# --- workflows --------------------------------------------------------------------------


async def run_workflow(request: Request) -> Response:
    from aegis.workflow import WorkflowError, get_workflow, list_workflows
    from aegis.workflow.runner import coerce_arguments

    daemon: Daemon = request.app.state.daemon
    data = await _body(request)
    name = _text(data, "name")
    arguments = data.get("args", {})
    if not isinstance(arguments, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in arguments.items()
    ):
        raise ApiError(400, "bad_request", "'args' must be an object of strings")
    fn = get_workflow(name)
    if fn is None:
        raise ApiError(
            404,
            "unknown_workflow",
            f"no workflow {name!r} (workflows: {', '.join(list_workflows()) or 'none'})",
            "`aegis workflow list` lists the workflows",
        )
    try:
        coerce_arguments(fn, arguments)  # refused here, before a run starts for nothing
    except WorkflowError as exc:
        raise ApiError(
            400, "bad_arguments", str(exc), f"`aegis workflow list` shows {name}'s arguments"
        ) from None
    record = await daemon.runs.start(name, arguments)
    return _ok(record.as_dict(), 202)


async def list_workflows_runs(request: Request) -> Response:
    from aegis.workflow.runner import load_runs

    daemon: Daemon = request.app.state.daemon
    limit = _limit(request, 20)
    records = await anyio.to_thread.run_sync(load_runs, daemon.state_dir)
    live = daemon.runs.logs
    # The records on disk, with this daemon's runs as they are now (fresher than their files).
    newest = [live[r.id].record if r.id in live else r for r in reversed(records)][:limit]
    return _ok({"runs": [record.as_dict() for record in newest]})


async def show_workflow_run(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    return _ok((await daemon.runs.record(request.path_params["run_id"])).as_dict())


async def cancel_workflow_run(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    run_id = request.path_params["run_id"]
    wait = (await _body(request)).get("wait", False)
    record = await daemon.runs.record(run_id)
    if not daemon.runs.cancel(run_id):
        from aegis.queue.owner import is_owner_alive

        if record.status.value != "running":
            raise ApiError(409, "run_not_running", f"run {run_id} has ended ({record.status})")
        elsewhere = record.owner is not None and is_owner_alive(record.owner)
        raise ApiError(
            409,
            "run_not_running",
            f"run {run_id} does not run in this daemon",
            f"it runs in another aegis process (pid {record.owner.split(':')[1]}): Ctrl+C there"
            if elsewhere and record.owner
            else None,
        )
    if wait:
        record = await daemon.runs.wait(run_id)
    return _ok(record.as_dict(), 200 if record.status.value != "running" else 202)


async def resume_workflow_run(request: Request) -> Response:
    from aegis.workflow import WorkflowError
    from aegis.workflow.runner import NotResumable

    daemon: Daemon = request.app.state.daemon
    run_id = request.path_params["run_id"]
    await daemon.runs.record(run_id)  # unknown_run first
    try:
        record = await daemon.runs.resume(run_id)
    except NotResumable as exc:
        raise ApiError(
            409, "run_not_resumable", str(exc), f"`aegis workflow show {run_id}` shows it"
        ) from None
    except WorkflowError as exc:
        raise ApiError(
            404, "unknown_workflow", str(exc), "`aegis workflow list` lists the workflows"
        ) from None
    return _ok(record.as_dict(), 202)


async def workflow_log(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    run_id = request.path_params["run_id"]
    record = await daemon.runs.record(run_id)
    runs = daemon.runs
    follow = _flag(request, "follow", default=True)
    items = runs.items(run_id, _after(request), record, follow=follow)

    def end(stopping: bool) -> dict[str, Any]:
        live = runs.logs.get(run_id)
        final = live.record if live is not None else record
        reason = "daemon stopping" if stopping else runs.end_reason(run_id, final)
        if not follow and final.status.value == "running" and reason != "daemon stopping":
            reason = "replayed"
        sessions = live.last_seqs if live is not None else {}
        return {"reason": reason, "run": final.as_dict(), "sessions": sessions}

    return EventStream(daemon, _client(request), f"workflow:{run_id}", items, end)


async def stop(request: Request) -> Response:
    daemon: Daemon = request.app.state.daemon
    daemon.stop(f"asked by {_client(request)}")
    return _ok({"stopping": True, "pid": os.getpid()}, 202)


def build_app(daemon: Daemon) -> Starlette:
    """The ASGI app of the protocol, serving ``daemon``."""
    p = API_PREFIX
    routes = [
        Route(f"{p}/status", _endpoint(status), methods=["GET"]),
        Route(f"{p}/daemon/stop", _endpoint(stop), methods=["POST"]),
        Route(f"{p}/sessions", _endpoint(list_sessions), methods=["GET"]),
        Route(f"{p}/sessions", _endpoint(spawn), methods=["POST"]),
        Route(f"{p}/sessions/{{handle}}", _endpoint(show_session), methods=["GET"]),
        Route(f"{p}/sessions/{{handle}}/close", _endpoint(close_session), methods=["POST"]),
        Route(f"{p}/sessions/{{handle}}/interrupt", _endpoint(interrupt_session), methods=["POST"]),
        Route(f"{p}/sessions/{{handle}}/messages", _endpoint(send_message), methods=["POST"]),
        Route(f"{p}/sessions/{{handle}}/events", _endpoint(session_events), methods=["GET"]),
        Route(f"{p}/queues", _endpoint(queue_counts), methods=["GET"]),
        Route(f"{p}/queues/{{queue}}/tasks", _endpoint(enqueue), methods=["POST"]),
        Route(f"{p}/tasks", _endpoint(list_tasks), methods=["GET"]),
        Route(f"{p}/tasks/{{task_id}}", _endpoint(show_task), methods=["GET"]),
        Route(f"{p}/tasks/{{task_id}}/cancel", _endpoint(cancel_task), methods=["POST"]),
        Route(f"{p}/tasks/{{task_id}}/retry", _endpoint(retry_task), methods=["POST"]),
        Route(f"{p}/workflows", _endpoint(run_workflow), methods=["POST"]),
        Route(f"{p}/workflows", _endpoint(list_workflows_runs), methods=["GET"]),
        Route(f"{p}/workflows/{{run_id}}", _endpoint(show_workflow_run), methods=["GET"]),
        Route(f"{p}/workflows/{{run_id}}/cancel", _endpoint(cancel_workflow_run), methods=["POST"]),
        Route(f"{p}/workflows/{{run_id}}/log", _endpoint(workflow_log), methods=["GET"]),
        Route(f"{p}/workflows/{{run_id}}/resume", _endpoint(resume_workflow_run), methods=["POST"]),
    ]
    from aegis.daemon import (
        approval_routes,
        notification_routes,
        question_routes,
        terminal_routes,
        usage_routes,
    )

    routes += terminal_routes.routes(p)
    routes += question_routes.routes(p)
    routes += notification_routes.routes(p)
    routes += approval_routes.routes(p)
    routes += usage_routes.routes(p)
    app = Starlette(routes=routes)
    app.state.daemon = daemon
    return app
