"""The step runner's own metrics, beside the host figures of :mod:`streams.metrics`.

- ``agentflow_steps_total{step, outcome}``: steps that ended, ``completed`` or ``failed``;
- ``agentflow_step_seconds{step, model}``: how long a step ran (``model`` is empty for a
  Python step);
- ``agentflow_steps_waiting_by_tenant{tenant}``: the queue depth per tenant, every stats
  interval;
- ``agentflow_tenant_spent_today_tokens{tenant}`` and ``..._cost_usd``: what the daily
  budgets see (with budgets set);
- ``agentflow_model_tokens_total{tenant, model, direction}`` and
  ``agentflow_model_cost_usd_total{tenant, model}``: what model steps spent.

These are counted when a step ends, not at commit: a step re-run after an aborted transaction
did call its model again, and the spend is real.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from decimal import Decimal, InvalidOperation

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agents.executor import StepOutcome
from processors.engine.records import StepCommand
from processors.steps.usage import Spent

#: Step latency buckets, in seconds: from a Python step to a long model conversation.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class StepMetrics:
    """Counts each step's end in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.steps = Counter(
            "agentflow_steps", "Steps that ended, by outcome", ("step", "outcome"),
            registry=registry,
        )  # fmt: skip
        self.seconds = Histogram(
            "agentflow_step_seconds", "Step run time", ("step", "model"), buckets=STEP_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.tokens = Counter(
            "agentflow_model_tokens", "Model tokens spent by steps",
            ("tenant", "model", "direction"), registry=registry,
        )  # fmt: skip
        self.cost = Counter(
            "agentflow_model_cost_usd", "Model cost of steps, where the price is known",
            ("tenant", "model"), registry=registry,
        )  # fmt: skip
        self.waiting = Gauge(
            "agentflow_steps_waiting_by_tenant", "Step commands waiting for a slot, by tenant",
            ("tenant",), registry=registry,
        )  # fmt: skip
        self._waiting_tenants: set[str] = set()
        self.spent_tokens = Gauge(
            "agentflow_tenant_spent_today_tokens", "Model tokens a tenant spent today (UTC), "
            "as the daily budget sees them", ("tenant",), registry=registry,
        )  # fmt: skip
        self.spent_cost = Gauge(
            "agentflow_tenant_spent_today_cost_usd", "Model cost a tenant spent today (UTC)",
            ("tenant",), registry=registry,
        )  # fmt: skip

    def set_flow(self, waiting: Mapping[str, int], spent: Mapping[str, Spent]) -> None:
        """The queue depth by tenant and each tenant's spend today (the daily budgets' view;
        empty without budgets)."""
        self.set_waiting(waiting)
        for tenant, s in spent.items():
            self.spent_tokens.labels(tenant).set(s.tokens)
            self.spent_cost.labels(tenant).set(float(s.cost_usd))

    def set_waiting(self, by_tenant: Mapping[str, int]) -> None:
        """The queue depth by tenant; tenants with nothing waiting are removed."""
        for tenant, count in by_tenant.items():
            self.waiting.labels(tenant).set(count)
        for gone in self._waiting_tenants - set(by_tenant):
            self.waiting.remove(gone)
        self._waiting_tenants = set(by_tenant)

    def observe(self, command: StepCommand, outcome: StepOutcome, seconds: float) -> None:
        """``command`` ended with ``outcome`` after ``seconds``."""
        usage = outcome.usage
        model = usage.model if usage is not None else ""
        self.steps.labels(command.step, "completed" if outcome.completed else "failed").inc()
        self.seconds.labels(command.step, model).observe(seconds)
        if usage is None:
            return
        self.tokens.labels(command.tenant, model, "input").inc(usage.input_tokens)
        self.tokens.labels(command.tenant, model, "output").inc(usage.output_tokens)
        # A price we cannot read is not worth failing a step over.
        with suppress(InvalidOperation):
            if usage.cost_usd:
                self.cost.labels(command.tenant, model).inc(float(Decimal(usage.cost_usd)))
