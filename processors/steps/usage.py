"""A tenant's model spend per UTC day: the records the step runner writes to the ``usage``
topic (``avro_schemas/internal/tenant_usage.avsc``, keyed by tenant) and their sums.

Pure: the runner's :class:`~agents.tenant_spend.TenantSpend` reads the topic and feeds
:class:`DailySpend`; the day comes from the record, never from a clock here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from processors.events import decode_record, encode_record

TENANT_USAGE: Final = "agentflow.internal.TenantUsage"
USAGE_ROLE: Final = "usage"
#: The ``error_type`` of the ``step.failed`` a runner answers when a tenant is over budget.
TENANT_BUDGET_EXCEEDED: Final = "tenant_budget_exceeded"


def utc_day(epoch_ms: int) -> str:
    """The UTC day of ``epoch_ms``, ``YYYY-MM-DD``."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d")


def encode_usage(
    tenant: str,
    command_id: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: str | None,
    ended_at_ms: int,
) -> bytes:
    """The encoded usage record of one model step."""
    return encode_record(TENANT_USAGE, {
        "tenant": tenant, "day": utc_day(ended_at_ms), "command_id": command_id,
        "model": model, "input_tokens": input_tokens, "output_tokens": output_tokens,
        "cost_usd": cost_usd, "ended_at": ended_at_ms,
    })  # fmt: skip


@dataclass(frozen=True)
class Spent:
    """Tokens and cost of one tenant on one day."""

    tokens: int = 0
    cost_usd: Decimal = Decimal(0)


@dataclass
class DailySpend:
    """Sums usage records per (tenant, day). The topic is read with ``read_committed``: a
    step re-run after an aborted transaction left no record behind, so each counts once."""

    totals: dict[tuple[str, str], Spent] = field(default_factory=dict)

    def add(self, datum: dict[str, Any]) -> None:
        """Count one decoded usage record."""
        key = (datum["tenant"], datum["day"])
        before = self.totals.get(key, Spent())
        try:
            cost = Decimal(datum["cost_usd"]) if datum["cost_usd"] else Decimal(0)
        except InvalidOperation:
            cost = Decimal(0)
        tokens = datum["input_tokens"] + datum["output_tokens"]
        self.totals[key] = Spent(before.tokens + tokens, before.cost_usd + cost)

    def add_encoded(self, value: bytes) -> None:
        """Count one usage record as read from the topic."""
        _, datum = decode_record(value)
        self.add(datum)

    def spent(self, tenant: str, day: str) -> Spent:
        return self.totals.get((tenant, day), Spent())

    def forget_before(self, day: str) -> None:
        """Drop the sums of days before ``day``."""
        for key in [k for k in self.totals if k[1] < day]:
            del self.totals[key]


def over_budget(spent: Spent, max_tokens: int | None, max_cost_usd: Decimal | None) -> str | None:
    """Why ``spent`` is at or past the budget, or None if it is within it."""
    if max_tokens is not None and spent.tokens >= max_tokens:
        return f"{spent.tokens} tokens spent today, the daily budget is {max_tokens}"
    if max_cost_usd is not None and spent.cost_usd >= max_cost_usd:
        return f"{spent.cost_usd} USD spent today, the daily budget is {max_cost_usd}"
    return None
