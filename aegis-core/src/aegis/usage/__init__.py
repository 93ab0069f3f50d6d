"""Usage and budgets: what the agents spent, and the ceilings that stop them.

Declare ceilings in ``.aegis.py`` with :class:`Budget` (on a ``Queue``) and
:class:`Limits` (``limits = Limits(daily=..., workflow_run=..., providers=...)``);
``aegis usage`` totals what was spent. Every turn is recorded in
``.aegis/usage.db`` (:mod:`aegis.usage.ledger`); the runtime's
:class:`~aegis.usage.recorder.UsageRecorder` writes it and enforces the ceilings.
See docs/usage.md.
"""

from aegis.usage.budget import Budget, Limits
from aegis.workflow.errors import WorkflowBudgetExceeded

__all__ = ["Budget", "Limits", "WorkflowBudgetExceeded"]
