"""Small workflow definitions written for the engine's own tests.

They are not the shipped examples (``examples/workflows``): editing an example must never break
the engine's tests. ``tickets`` takes a ticket through classification, an optional customer
round-trip, and a refund behind a human approval with a 48 h deadline; ``incidents`` gathers
context on an alert and correlates deployments one at a time until the alert resolves.
"""

from __future__ import annotations

from typing import Final

from workflows import (
    START,
    ApprovalStep,
    Deadline,
    DefinitionRegistry,
    Transition,
    WorkflowDefinition,
)

APPROVAL_DEADLINE_MS: Final = 48 * 3_600_000
_OPEN: Final = (
    "classifying",
    "drafting_reply",
    "asking_customer",
    "waiting_for_customer",
    "proposing_refund",
    "awaiting_approval",
    "revising",
)


def _t(on: str, src: str, dst: str, step: str | None = None) -> Transition:
    return Transition(on, src, dst, step)


TICKETS_V1: Final = WorkflowDefinition(
    name="tickets",
    version=1,
    states=(*_OPEN, "executing_refund", "done", "resolved", "closed", "escalated", "failed"),
    start_events=("ticket.created",),
    terminal_states=("done", "resolved", "closed", "escalated", "failed"),
    transitions=(
        _t("ticket.created", START, "classifying", "classify"),
        _t("step.completed:classify:low_risk", "classifying", "drafting_reply", "draft_reply"),
        _t("step.completed:draft_reply", "drafting_reply", "done"),
        _t("step.completed:classify:needs_info", "classifying", "asking_customer", "request_info"),
        _t("step.completed:request_info", "asking_customer", "waiting_for_customer"),
        _t("customer.replied", "waiting_for_customer", "classifying", "classify"),
        _t("step.completed:classify:refund", "classifying", "proposing_refund", "propose_refund"),
        _t("step.completed:propose_refund", "proposing_refund", "awaiting_approval"),
        _t("approval.granted", "awaiting_approval", "executing_refund", "execute_refund"),
        _t("step.completed:execute_refund", "executing_refund", "resolved"),
        _t("approval.denied", "awaiting_approval", "revising", "revise"),
        _t("step.completed:revise:resubmit", "revising", "awaiting_approval"),
        _t("step.completed:revise:withdraw", "revising", "closed"),
        _t("timer.fired:approval_deadline", "awaiting_approval", "escalated"),
        *(_t("ticket.closed", state, "closed") for state in _OPEN),
    ),
    approval_steps=(
        ApprovalStep("awaiting_approval", "approve_refund", "refund_approver", "approval_deadline"),
    ),
    deadlines=(Deadline("approval_deadline", "awaiting_approval", APPROVAL_DEADLINE_MS),),
)

INCIDENTS_V1: Final = WorkflowDefinition(
    name="incidents",
    version=1,
    states=("gathering_context", "waiting", "correlating", "drafting_postmortem", "done", "failed"),
    start_events=("alert.fired",),
    terminal_states=("done", "failed"),
    transitions=(
        _t("alert.fired", START, "gathering_context", "gather_context"),
        _t("step.completed:gather_context", "gathering_context", "waiting"),
        _t("deployment.completed", "waiting", "correlating", "correlate_deployment"),
        _t("step.completed:correlate_deployment", "correlating", "waiting"),
        _t("alert.resolved", "waiting", "drafting_postmortem", "draft_postmortem"),
        _t("step.completed:draft_postmortem", "drafting_postmortem", "done"),
    ),
)


def engine_registry() -> DefinitionRegistry:
    """A fresh registry of the two test definitions."""
    return DefinitionRegistry((TICKETS_V1, INCIDENTS_V1))
