"""The offline, deterministic stand-in for a model that the example steps run as plain Python.

Its judgement is scripted from the scoped view alone (so a redelivered command gets the same
answer); everything around it, the step declarations, the scoping and the output validation,
is the real path. Output types carry the guardrails (a refund is positive and at most 500).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from processors.steps import approved_arguments
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


class Done(_Output):
    outcome: Literal["done"]
    summary: str


def classify(view: Mapping[str, str], tools: Tools) -> Classification:
    text = " ".join(view.values()).lower()
    if "refund" in text or "charged twice" in text:
        return Classification(outcome="refund", confidence="0.9")
    return Classification(outcome="low_risk", confidence="0.9")


def propose_refund(view: Mapping[str, str], tools: Tools) -> RefundProposal:
    return RefundProposal(outcome="proposed", amount="42.00", currency="EUR")


def revise(view: Mapping[str, str], tools: Tools) -> RefundProposal:
    return RefundProposal(outcome="resubmit", amount="30.00", currency="EUR")


async def execute_refund(view: Mapping[str, str], tools: Tools) -> RefundDone:
    """Pay back what the reviewer approved (the proposal with their edits), through the
    ``high_impact`` tool ``issue_refund``; the runner checks the arguments against the
    approval and keys the call in its ledger."""
    approved = approved_arguments(view, "propose_refund")
    request = RefundRequest(
        amount=approved["amount"],
        currency=approved["currency"],  # type: ignore[arg-type]
        reference=view.get("context.ticket_id", ""),
    )
    receipt = await tools.call("issue_refund", request)
    assert isinstance(receipt, RefundReceipt)
    return RefundDone(outcome="refunded", refund_id=receipt.refund_id, amount=receipt.amount,
                      currency=receipt.currency)  # fmt: skip


def done(step: str) -> Callable[[Mapping[str, str], Tools], Done]:
    """A step that just reports it finished."""

    def handler(view: Mapping[str, str], tools: Tools) -> Done:
        return Done(outcome="done", summary=f"{step} finished by the scripted model")

    return handler
