"""The example steps' output types, and the steps that run as plain Python.

Output types carry the guardrails (a refund is positive and at most 500). The model steps'
offline model is in ``examples/models.py``; the plain-Python steps here decide from the scoped
view alone, so a redelivered command gets the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from workflows import Tools

MAX_REFUND = Decimal("500.00")


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Classification(_Output):
    outcome: Literal["low_risk", "refund", "needs_info"]
    confidence: str


class RefundProposal(_Output):
    outcome: Literal["proposed", "resubmit", "withdraw"]
    amount: str
    currency: Literal["EUR", "USD"]
    ticket_id: str = ""

    @field_validator("amount")
    @classmethod
    def _within_policy(cls, amount: str) -> str:
        value = Decimal(amount)
        if not Decimal("0") < value <= MAX_REFUND:
            raise ValueError(f"a refund must be more than 0 and at most {MAX_REFUND}")
        return amount


class RefundDone(_Output):
    outcome: Literal["refunded"]
    refund_id: str
    amount: str
    currency: str


class RefundRequest(_Output):
    """The ``issue_refund`` tool's input: what the payments service is asked to pay back."""

    amount: str
    currency: Literal["EUR", "USD"]
    reference: str


class RefundReceipt(BaseModel):
    """The ``issue_refund`` tool's output: the payments service's answer."""

    refund_id: str
    status: str
    amount: str
    currency: str


class DraftedReply(_Output):
    """draft_reply's output, published as ``reply.drafted``."""

    outcome: Literal["drafted"]
    ticket_id: str
    text: str


class Postmortem(_Output):
    """draft_postmortem's output, published as ``postmortem.drafted``."""

    outcome: Literal["drafted"]
    alert_id: str
    service: str
    summary: str


def draft_postmortem(view: Mapping[str, str], tools: Tools) -> Postmortem:
    """A postmortem skeleton from the alert and what the incident saw."""
    summary = (f"{view.get('context.name', 'alert')} on {view.get('context.service', '?')}: "
               f"{view.get('context.summary', '')}. Resolved; see the timeline for the "
               "deployments correlated meanwhile.")  # fmt: skip
    return Postmortem(outcome="drafted", alert_id=view.get("context.alert_id", ""),
                      service=view.get("context.service", ""), summary=summary)  # fmt: skip


class ServiceQuery(_Output):
    """The ``service_status`` tool's input."""

    service: str


class ServiceStatus(BaseModel):
    """The ``service_status`` tool's output: what monitoring says of a service."""

    service: str
    status: str
    error_rate: str
    deployments: list[str]


async def gather_context(view: Mapping[str, str], tools: Tools) -> Done:
    """Ask the status API about the alerting service (a ``read`` tool: no ledger entry)."""
    status = await tools.call(
        "service_status", ServiceQuery(service=view.get("context.service", ""))
    )
    assert isinstance(status, ServiceStatus)
    summary = (f"{status.service} is {status.status}, error rate {status.error_rate}, "
               f"recent deployments {', '.join(status.deployments)}")  # fmt: skip
    return Done(outcome="done", summary=summary)


class Done(_Output):
    outcome: Literal["done"]
    summary: str


def revise(view: Mapping[str, str], tools: Tools) -> RefundProposal:
    """After a denial: withdraw if the reviewer said so, else resubmit a smaller refund."""
    if "withdraw" in view.get("event.comment", "").lower():
        return RefundProposal(outcome="withdraw", amount="42.00", currency="EUR")
    return RefundProposal(outcome="resubmit", amount="30.00", currency="EUR")


def done(step: str) -> Callable[[Mapping[str, str], Tools], Done]:
    """A step that just reports it finished."""

    def handler(view: Mapping[str, str], tools: Tools) -> Done:
        return Done(outcome="done", summary=f"{step} finished by the scripted model")

    return handler
