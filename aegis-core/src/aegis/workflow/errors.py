"""The exceptions that end a workflow run as failed (rather than crashed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess


class WorkflowError(Exception):
    """Expected failure inside a workflow (predicate violated, retry exhausted, etc.).

    Workflows raise this for clean failure reporting. Any other exception is
    treated as an unexpected crash, and its traceback is recorded.
    """


class PredicateFailed(WorkflowError):
    """A check of :meth:`~aegis.workflow.WorkflowEngine.bash_predicate` still failed
    when its retries ran out.

    ``result`` is its last run (``returncode``, ``stdout``, ``stderr``), ``retries``
    how many times the agent was sent the failure.
    """

    def __init__(self, cmd: str, result: subprocess.CompletedProcess[str], retries: int) -> None:
        output = (result.stdout + result.stderr).strip()
        tail = output[-1000:]
        super().__init__(
            f"`{cmd}` still fails (exit {result.returncode}) after {retries} "
            f"retr{'y' if retries == 1 else 'ies'}" + (f":\n{tail}" if tail else "")
        )
        self.cmd = cmd
        self.result = result
        self.retries = retries


class WorkflowBudgetExceeded(WorkflowError):
    """A workflow run reached its budget, or the project's daily budget (see
    :class:`aegis.usage.Limits`): the run fails with this error, which says which
    ceiling and how much was spent."""
