"""aegis: drive coding-agent CLIs as long-lived sessions, and run many of them together.

The public surface is re-exported here lazily, so that ``import aegis`` (and with it
``aegis --version``) stays cheap: pydantic and the plugin machinery are imported on
first use of a name that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it; resolved on first attribute access.
_LAZY: dict[str, str] = {
    "Agent": "aegis.config",
    "ConfigError": "aegis.config",
    "Effort": "aegis.config",
    "Permission": "aegis.config",
    "find_project_root": "aegis.config",
    "load_config": "aegis.config",
    "Queue": "aegis.queue",
    "workflow": "aegis.workflow",
    "WorkflowError": "aegis.workflow",
    "list_workflows": "aegis.workflow",
    "get_workflow": "aegis.workflow",
    "hookimpl": "aegis.hookspecs",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:
    from aegis.config import Agent as Agent
    from aegis.config import ConfigError as ConfigError
    from aegis.config import Effort as Effort
    from aegis.config import Permission as Permission
    from aegis.config import find_project_root as find_project_root
    from aegis.config import load_config as load_config
    from aegis.hookspecs import hookimpl as hookimpl
    from aegis.queue import Queue as Queue
    from aegis.workflow import WorkflowError as WorkflowError
    from aegis.workflow import get_workflow as get_workflow
    from aegis.workflow import list_workflows as list_workflows
    from aegis.workflow import workflow as workflow


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aegis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
