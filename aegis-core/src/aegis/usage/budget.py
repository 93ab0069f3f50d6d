"""Spending ceilings, as declared in ``.aegis.py``: :class:`Budget` and :class:`Limits`.

A :class:`Budget` is a ceiling in US dollars, in tokens, or both. Where it is
declared says what it covers::

    from aegis.usage import Budget, Limits

    queues = [Queue("review", agent_profile="reviewer", max_parallel=2,
                    budget=Budget(usd=5))]           # the queue, per UTC day
    limits = Limits(
        daily=Budget(usd=20),                        # the whole project, per UTC day
        workflow_run=Budget(usd=2),                  # each workflow run
        workflows={"nightly": Budget(usd=10)},       # runs of one workflow (instead)
        providers={"claude-code": 4},                # queue workers at once per provider
    )

A ceiling is *reached* once what was spent is at or above it; what runs then
finishes (a turn in flight is not cut), and nothing new starts. See docs/usage.md.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aegis.events import Usage


class Budget(BaseModel):
    """A spending ceiling: ``usd`` (the cost the CLIs report), ``tokens`` (input plus
    output tokens, cache reads included), or both (whichever is reached first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd: float | None = Field(default=None, gt=0)
    """The ceiling in US dollars, of the cost the CLIs report (a CLI that reports no
    cost, such as gemini, counts nothing here: give it a ``tokens`` ceiling)."""
    tokens: int | None = Field(default=None, gt=0)
    """The ceiling in tokens: input (cache reads and writes included) plus output."""

    @model_validator(mode="after")
    def _some_ceiling(self) -> Budget:
        if self.usd is None and self.tokens is None:
            raise ValueError("a Budget needs a ceiling: usd=..., tokens=..., or both")
        return self

    def reached(self, spent: Usage) -> str | None:
        """Why ``spent`` is at or over this ceiling (``"$5.02 of $5.00"``), or ``None``."""
        if self.usd is not None and (spent.cost_usd or 0.0) >= self.usd:
            return f"${spent.cost_usd or 0.0:.2f} of ${self.usd:.2f}"
        tokens = spent.input_tokens + spent.output_tokens
        if self.tokens is not None and tokens >= self.tokens:
            return f"{tokens:,} of {self.tokens:,} tokens"
        return None

    def describe(self) -> str:
        """``"$5.00"``, ``"200,000 tokens"`` or ``"$5.00 or 200,000 tokens"``."""
        parts = []
        if self.usd is not None:
            parts.append(f"${self.usd:.2f}")
        if self.tokens is not None:
            parts.append(f"{self.tokens:,} tokens")
        return " or ".join(parts)


class Limits(BaseModel):
    """The project's ceilings, as ``limits = Limits(...)`` in ``.aegis.py``.

    ``daily``: what the whole project may spend per UTC day; once reached, no queue
    starts a task and no workflow run goes on (your own sessions are not stopped).
    ``workflow_run``: what each workflow run may spend (its sessions and the tasks it
    delegates); once reached, the run fails with
    :class:`~aegis.usage.WorkflowBudgetExceeded`. ``workflows``: a ceiling per
    workflow name, used instead of ``workflow_run`` for that workflow's runs.
    ``providers``: how many queue workers of a provider (``"claude-code"``,
    ``"gemini"``, ``"opencode"``, by the provider's name) may be live at once across
    all queues of the process that runs them — an account's rate limits are shared.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    daily: Budget | None = None
    workflow_run: Budget | None = None
    workflows: dict[str, Budget] = Field(default_factory=dict)
    providers: dict[str, int] = Field(default_factory=dict)

    @field_validator("providers")
    @classmethod
    def _positive(cls, providers: dict[str, int]) -> dict[str, int]:
        for name, cap in providers.items():
            if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
                raise ValueError(
                    f"providers[{name!r}] must be a whole number of at least 1, not {cap!r}"
                )
        return providers

    def for_run(self, workflow: str) -> Budget | None:
        """The ceiling of a run of ``workflow`` (its own, else ``workflow_run``)."""
        return self.workflows.get(workflow, self.workflow_run)
