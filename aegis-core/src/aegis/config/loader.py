"""Finding and executing ``.aegis.py``, and checking what it defines."""

from __future__ import annotations

import ast
import builtins
import difflib
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from aegis.config.agent import Agent, resolving_providers
from aegis.config.guarded import (
    LOAD_TIMEOUT_ENV,
    LoadTimeout,
    Outcome,
    execute_guarded,
    load_timeout,
)
from aegis.config.suggest import keyword_hint, misspelled_name
from aegis.errors import ConfigError
from aegis.project_files import ProjectFiles, find_config
from aegis.queue.declaration import NAME_HINT, Queue, valid_name
from aegis.usage.budget import Limits
from aegis.workflow.registry import WorkflowFn, collecting

if TYPE_CHECKING:
    from aegis.notify.config import ChannelConfig
    from aegis.queue.backends import QueueBackendChoice
    from aegis.registry import ProviderRegistry


@dataclass
class Project(ProjectFiles):
    """Everything one ``.aegis.py`` defines, from a single execution of it."""

    agents: dict[str, Agent]
    default_agent: str
    queues: dict[str, Queue] = field(default_factory=dict)
    workflows: dict[str, WorkflowFn] = field(default_factory=dict)
    queue_backend: str | QueueBackendChoice | None = None
    """What ``queue_backend = ...`` chose: a registered backend's name, or a plugin's
    object carrying its settings (``None``: the default, SQLite)."""
    notifications: list[ChannelConfig] = field(default_factory=list)
    """What ``notifications = [...]`` declared: where notifications go besides the
    plugins' hooks and the attached clients (``Webhook(...)``, ``Desktop()``)."""
    limits: Limits = field(default_factory=Limits)
    """What ``limits = Limits(...)`` declared: the project's daily budget, the
    budget of a workflow run, and the cap on queue workers per provider."""


def load_config(search_paths: Sequence[Path] | None = None) -> tuple[dict[str, Agent], str]:
    """Load the agent profiles: ``(agents by name, name of the default agent)``.

    ``search_paths`` defaults to the project's ``.aegis.py`` (found with
    :func:`find_project_root`), then ``~/.aegis.py``. Raises :class:`ConfigError`
    with the file, line, profile and field of whatever is wrong.
    """
    project = load_project(search_paths)
    return project.agents, project.default_agent


def load_project(
    search_paths: Sequence[Path] | None = None, *, timeout: float | None = None
) -> Project:
    """Execute ``.aegis.py`` once and return everything it defines.

    The file gets ``timeout`` seconds to run (default: ``AEGIS_LOAD_TIMEOUT``, else
    30; 0 for no limit). Whatever it does at load time — raise, ``sys.exit()``,
    loop, print — ends in a :class:`ConfigError` with its file and line, or in
    output on stderr: see :mod:`aegis.config.guarded`.
    """
    from aegis.registry import get_registry

    path = find_config(search_paths)
    providers = get_registry()
    with resolving_providers(providers):
        namespace, workflows, source = _execute(path, timeout)
    checker = _Checker(path, source, namespace)
    agents = checker.agents(providers)
    default = checker.default_agent(agents)
    checker.misspelled_names()
    queues = checker.queues(agents)
    backend = checker.queue_backend()
    notifications = checker.notifications()
    return Project(
        path, agents, default, queues, workflows, backend, notifications, checker.limits()
    )


def _execute(
    path: Path, timeout: float | None = None
) -> tuple[dict[str, Any], dict[str, WorkflowFn], str]:
    try:
        seconds = load_timeout(timeout)
    except ValueError as exc:
        raise ConfigError(str(exc), hint=f"unset {LOAD_TIMEOUT_ENV} or give it seconds") from None
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read it: {exc}", path=str(path)) from None
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise ConfigError(
            f"syntax error: {exc.msg}",
            path=str(path),
            line=exc.lineno,
            hint=_source_line(source, exc.lineno),
        ) from None
    namespace: dict[str, Any] = {
        "__file__": str(path),
        "__name__": "__aegis_config__",
        "__builtins__": builtins,
    }
    # Let .aegis.py import helper modules that sit beside it.
    folder = str(path.parent)
    sys.path.insert(0, folder)
    report = Outcome()
    try:
        with collecting() as workflows:
            outcome = execute_guarded(code, namespace, path, seconds, report)
    except BaseException as exc:
        raise _execution_error(exc, path, source, namespace, seconds, report.timeout_line) from exc
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    if outcome.threads:
        thread, line = outcome.threads[0]
        raise ConfigError(
            f"it started thread {thread.name!r}, still running when loading ended",
            path=str(path),
            line=line,
            hint="start threads in a workflow, not at load time "
            "(aegis made it a daemon thread, so that it does not keep aegis running)",
        )
    return namespace, workflows, source


def _load_time_error(
    exc: BaseException, path: Path, source: str, seconds: float, timeout_line: int | None
) -> ConfigError | None:
    """``SystemExit``, ``KeyboardInterrupt`` or the deadline, explained (else ``None``)."""
    line = _line_in(exc.__traceback__, path)
    if isinstance(exc, LoadTimeout) and timeout_line is not None:
        line = timeout_line
    where = _source_line(source, line)
    if isinstance(exc, LoadTimeout):
        return ConfigError(
            f"it did not finish loading within {seconds:g} s",
            path=str(path),
            line=line,
            hint=(f"stopped at {where}; " if where else "")
            + f"an endless loop or a long wait? {LOAD_TIMEOUT_ENV}=<seconds> allows more "
            "(0: no limit)",
        )
    if isinstance(exc, SystemExit):
        return ConfigError(
            f"it called sys.exit({'' if exc.code is None else repr(exc.code)}) while loading",
            path=str(path),
            line=line,
            hint="a configuration must not exit: raise an exception to report a problem"
            + (f" ({where})" if where else ""),
        )
    if isinstance(exc, KeyboardInterrupt):
        return ConfigError(
            "KeyboardInterrupt while loading it (raised by the file, or Ctrl+C)",
            path=str(path),
            line=line,
            hint=where,
        )
    return None


def _execution_error(
    exc: BaseException,
    path: Path,
    source: str,
    namespace: dict[str, Any],
    seconds: float = math.inf,
    timeout_line: int | None = None,
) -> ConfigError:
    special = _load_time_error(exc, path, source, seconds, timeout_line)
    if special is not None:
        return special
    line = _line_in(exc.__traceback__, path)
    profile = _profile_at(source, line) if line is not None else None
    if isinstance(exc, ConfigError):
        exc.path = exc.path or str(path)
        exc.line = exc.line or line
        exc.profile = exc.profile or profile
        return exc
    if isinstance(exc, ValidationError):
        from aegis.config.humanize import validation_to_config_error

        error = validation_to_config_error(exc, _model_named(exc.title))
        error.path, error.line, error.profile = str(path), line, profile
        return error
    hint = keyword_hint(exc, namespace) or _source_line(source, line)
    package = _package_of(exc)
    if package is not None:
        hint = f"pip install {package}" + (f" ({hint})" if hint else "")
    return ConfigError(
        f"{type(exc).__name__} while executing it: {exc}",
        path=str(path),
        line=line,
        profile=profile,
        hint=hint,
    )


def _package_of(exc: BaseException) -> str | None:
    """The aegis package to install for a ``ModuleNotFoundError`` of one of its modules."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    from aegis.registry import KNOWN_MODULES

    return KNOWN_MODULES.get(exc.name.partition(".")[0])


def _model_named(title: str) -> type[Any]:
    """The model a ``ValidationError`` titled ``title`` comes from: a provider's
    configuration class, or another model of aegis (``Approvals``, ``ScriptRule``...)."""
    from pydantic import BaseModel

    from aegis.registry import get_registry

    found = get_registry().find_config_class(title)
    if found is not None:
        return found
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        model = pending.pop()
        if model.__name__ == title and model.__module__.startswith("aegis"):
            return model
        pending.extend(model.__subclasses__())
    return Agent


def _line_in(tb: TracebackType | None, path: Path) -> int | None:
    """The line of ``path`` where the exception passed last (the deepest frame in it)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _source_line(source: str, line: int | None) -> str | None:
    if line is None:
        return None
    lines = source.splitlines()
    if 1 <= line <= len(lines):
        return f"line {line}: {lines[line - 1].strip()}"
    return None


def _profile_at(source: str, line: int) -> str | None:
    """The agent name whose entry spans ``line``, in ``{"name": Agent(...)}`` or
    ``agents["name"] = Agent(...)``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    best: tuple[int, str] | None = None
    for node in ast.walk(tree):
        pairs: list[tuple[ast.expr | None, ast.expr]] = []
        if isinstance(node, ast.Dict):
            pairs = list(zip(node.keys, node.values, strict=True))
        elif isinstance(node, ast.Assign):
            pairs = [
                (target.slice, node.value)
                for target in node.targets
                if isinstance(target, ast.Subscript)
            ]
        for key, value in pairs:
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                continue
            start, end = key.lineno, value.end_lineno or value.lineno
            if start <= line <= end and (best is None or end - start < best[0]):
                best = (end - start, key.value)
    return best[1] if best else None


class _Checker:
    """Checks the names ``.aegis.py`` defined, pointing errors at its lines."""

    def __init__(self, path: Path, source: str, namespace: dict[str, Any]) -> None:
        self.path = path
        self.source = source
        self.namespace = namespace
        self._tree = ast.parse(source)

    def error(self, message: str, *, name: str | None = None, **kw: Any) -> ConfigError:
        line = kw.pop("line", None) or (self._assigned_at(name) if name else None)
        return ConfigError(message, path=str(self.path), line=line, **kw)

    def _assigned_at(self, name: str) -> int | None:
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            else:
                continue
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return node.lineno
        return None

    def _key_at(self, key: str) -> int | None:
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Dict):
                for k in node.keys:
                    if isinstance(k, ast.Constant) and k.value == key:
                        return k.lineno
        return None

    def _similar(self, name: str, kind: type | tuple[type, ...]) -> str | None:
        """A hint for a misspelled ``name``: a similar name bound to a value of ``kind``.

        Only values of the expected kind count, so that an import such as ``Agent``
        is not taken for a misspelled ``agents``.
        """
        candidates = [
            n
            for n, value in self.namespace.items()
            if not n.startswith("_") and isinstance(value, kind) and not isinstance(value, type)
        ]
        close = difflib.get_close_matches(name, candidates, n=1)
        return f"did you mean `{name} = ...` instead of `{close[0]} = ...`?" if close else None

    def misspelled_names(self) -> None:
        """Refuse a name spelled nearly like one aegis reads, which would be ignored."""
        slip = misspelled_name(self.namespace)
        if slip is not None:
            spelled, meant = slip
            raise self.error(
                f"`{spelled}` is not a name aegis reads",
                name=spelled,
                hint=f"did you mean `{meant}`?",
            )

    def agents(self, providers: ProviderRegistry) -> dict[str, Agent]:
        if "agents" not in self.namespace:
            raise self.error(
                "it defines no `agents`",
                hint=self._similar("agents", dict)
                or "agents = {'main': Agent(provider=ClaudeCode(model='sonnet'))}",
            )
        agents = self.namespace["agents"]
        if not isinstance(agents, dict):
            raise self.error(
                f"`agents` must be a dict of name -> Agent, not {type(agents).__name__}",
                name="agents",
                hint="agents = {'main': Agent(...), 'reviewer': Agent(...)}",
            )
        if not agents:
            raise self.error(
                "`agents` is empty", name="agents", hint="define at least one agent profile"
            )
        for key, agent in agents.items():
            if not isinstance(key, str) or not key:
                raise self.error(
                    f"agent names must be non-empty strings, not {key!r}", name="agents"
                )
            if not valid_name(key):
                # A profile name ends up in paths, senders and command lines.
                raise self.error(
                    f"agent name {key!r} is not valid",
                    line=self._key_at(key),
                    name="agents",
                    hint=NAME_HINT,
                )
            if not isinstance(agent, Agent):
                raise self.error(
                    f"is a {type(agent).__name__}, not an Agent",
                    line=self._key_at(key),
                    name="agents",
                    profile=key,
                    hint="write Agent(provider=...) or Agent(harness=..., model=...)",
                )
            try:
                # A provider object can be made without its plugin loaded; sessions can't.
                providers.get(agent.harness)
            except ConfigError as exc:
                exc.path, exc.line, exc.profile = str(self.path), self._key_at(key), key
                raise
        return dict(agents)

    def default_agent(self, agents: dict[str, Agent]) -> str:
        names = ", ".join(agents)
        if "default_agent" not in self.namespace:
            raise self.error(
                "it defines no `default_agent`",
                hint=self._similar("default_agent", str)
                or f"add default_agent = {next(iter(agents))!r} (agents: {names})",
            )
        default = self.namespace["default_agent"]
        if not isinstance(default, str) or default not in agents:
            raise self.error(
                f"default_agent = {default!r} is not one of the agents",
                name="default_agent",
                field="default_agent",
                hint=f"agents: {names}",
            )
        return default

    def queue_backend(self) -> str | QueueBackendChoice | None:
        from aegis.queue.backends import QueueBackendChoice

        chosen = self.namespace.get("queue_backend")
        if chosen is None or isinstance(chosen, (str, QueueBackendChoice)):
            return chosen
        raise self.error(
            f"`queue_backend` must be a backend's name or a plugin's backend settings, "
            f"not {type(chosen).__name__}",
            name="queue_backend",
            hint="queue_backend = 'sqlite', or e.g. "
            "queue_backend = Postgres('postgresql://aegis@db/aegis', password_env='PGPASSWORD')",
        )

    def notifications(self) -> list[ChannelConfig]:
        from aegis.notify.config import ChannelConfig

        declared = self.namespace.get("notifications", [])
        hint = "from aegis.notify import Desktop, Webhook; notifications = [Desktop()]"
        if not isinstance(declared, (list, tuple)):
            raise self.error(
                f"`notifications` must be a list of channels, not {type(declared).__name__}",
                name="notifications",
                hint=hint,
            )
        for channel in declared:
            if not isinstance(channel, ChannelConfig):
                raise self.error(
                    f"`notifications` holds {channel!r}, which is not a notification channel",
                    name="notifications",
                    hint=hint,
                )
        return list(declared)

    def limits(self) -> Limits:
        declared = self.namespace.get("limits")
        if declared is None:
            return Limits()
        if not isinstance(declared, Limits):
            raise self.error(
                f"`limits` must be a Limits, not {type(declared).__name__}",
                name="limits",
                hint="from aegis.usage import Budget, Limits; "
                "limits = Limits(daily=Budget(usd=20))",
            )
        return declared

    def queues(self, agents: dict[str, Agent]) -> dict[str, Queue]:
        declared = self.namespace.get("queues", [])
        if isinstance(declared, Queue) or not isinstance(declared, (list, tuple)):
            raise self.error(
                f"`queues` must be a list of Queue, not {type(declared).__name__}",
                name="queues",
                hint="queues = [Queue('review', agent_profile='reviewer', max_parallel=2)]",
            )
        queues: dict[str, Queue] = {}
        for queue in declared:
            if not isinstance(queue, Queue):
                raise self.error(
                    f"`queues` holds {queue!r}, which is not a Queue",
                    name="queues",
                    hint="from aegis.queue import Queue",
                )
            if queue.name in queues:
                raise self.error(
                    f"two queues are named {queue.name!r}",
                    name="queues",
                    hint="queue names must be unique",
                )
            if queue.agent_profile not in agents:
                raise self.error(
                    f"queue {queue.name!r} names agent {queue.agent_profile!r}, "
                    "which is not among the agents",
                    name="queues",
                    field="agent_profile",
                    hint=f"agents: {', '.join(agents)}",
                )
            queues[queue.name] = queue
        return queues
