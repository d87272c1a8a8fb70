"""support_triage v1: classify a support ticket, then reply, ask for details, or refund.

Paths (``[step]`` is the step command issued on arrival)::

    ticket.created                         -> classifying [classify]
    classifying  step.completed:classify:low_risk   -> drafting_reply [draft_reply]
    drafting_reply  step.completed:draft_reply      -> done
    classifying  step.completed:classify:needs_info -> asking_customer [request_info]
    asking_customer  step.completed:request_info    -> waiting_for_customer
    waiting_for_customer  customer.replied          -> classifying [classify]
    classifying  step.completed:classify:refund     -> proposing_refund [propose_refund]
    proposing_refund  step.completed:propose_refund -> awaiting_approval (approval, 48 h)
    awaiting_approval  approval.granted             -> executing_refund [execute_refund]
    executing_refund  step.completed:execute_refund -> resolved
    awaiting_approval  approval.denied              -> revising [revise]
    revising  step.completed:revise:resubmit        -> awaiting_approval (a new approval)
    revising  step.completed:revise:withdraw        -> closed
    awaiting_approval  timer.fired:approval_deadline -> escalated
    <open states>  ticket.closed                    -> closed

Choices, documented because they are policy:

* A denied refund goes to ``revising``: the agent either resubmits a changed proposal (a fresh
  approval request with a new id and a new 48 h deadline) or withdraws, which closes the ticket.
* ``ticket.closed`` closes the ticket from every open state except ``executing_refund``: money
  is moving there, so a close then is refused (``invalid_transition``) rather than abandoning
  the refund half-way; the refund's own result decides the end state.
* An unanswered approval escalates after 48 h (terminal ``escalated``; a human takes over).
* A step that fails for good (permanent error, or 3 transient attempts) ends in ``failed``.
"""

from __future__ import annotations

from typing import Final

from examples.workflows import scripted
from workflows import (
    START,
    ApprovalStep,
    Deadline,
    StepSpec,
    ToolSpec,
    Transition,
    WorkflowDefinition,
)

HOUR_MS: Final = 3_600_000
APPROVAL_DEADLINE_MS: Final = 48 * HOUR_MS

#: States a ``ticket.closed`` closes from (all open states but ``executing_refund``).
CLOSABLE: Final = (
    "classifying",
    "drafting_reply",
    "asking_customer",
    "waiting_for_customer",
    "proposing_refund",
    "awaiting_approval",
    "revising",
)

_TICKET: Final = ("context.subject", "context.body", "context.ticket_id")

#: The model of the model steps: the offline, scripted one (``examples/models.py``).
#: ``AGENTFLOW_MODEL=openai:gpt-4o-mini`` runs them on a real model instead.
SCRIPTED_MODEL: Final = "function:examples.models:scripted_support_model"

#: The steps: four on a model, with typed outputs whose validators are the guardrails, and two
#: in plain Python.
STEPS: Final = (
    StepSpec("classify", (*_TICKET, "event.body"), scripted.Classification,
             instructions="Classify this support ticket as low_risk, refund or needs_info. "
                          "Subject: {{context.subject}}\n{{context.body}}",
             model=SCRIPTED_MODEL),
    StepSpec("draft_reply", _TICKET, scripted.DraftedReply,
             instructions="Draft a short, friendly reply to: {{context.subject}}",
             model=SCRIPTED_MODEL, publishes="reply.drafted"),
    StepSpec("request_info", _TICKET, scripted.Done, handler=scripted.done("request_info")),
    StepSpec("propose_refund", (*_TICKET, "result.classify"), scripted.RefundProposal,
             instructions="Propose a refund (amount, currency) for: {{context.subject}}",
             model=SCRIPTED_MODEL, publishes="refund.recommended"),
    StepSpec("execute_refund", ("context.ticket_id", "result.propose_refund", "event.*"),
             scripted.RefundDone, tools=("issue_refund",), role="refunds",
             instructions="Refund exactly what the reviewer approved, with issue_refund, "
                          "then report the refund.",
             model=SCRIPTED_MODEL),
    StepSpec("revise", (*_TICKET, "result.propose_refund", "event.*"), scripted.RefundProposal,
             handler=scripted.revise),
)  # fmt: skip

#: The payments service's refund: money moves, so it runs only with what a reviewer approved.
ISSUE_REFUND: Final = ToolSpec(
    "issue_refund",
    scripted.RefundRequest,
    scripted.RefundReceipt,
    impact="high_impact",
    approves="propose_refund",
    roles=("refunds",),
    description="Refund the customer through the payments service.",
)

SUPPORT_TRIAGE_V1: Final = WorkflowDefinition(
    name="support_triage",
    version=1,
    states=(
        "classifying",
        "drafting_reply",
        "asking_customer",
        "waiting_for_customer",
        "proposing_refund",
        "awaiting_approval",
        "executing_refund",
        "revising",
        "done",
        "resolved",
        "closed",
        "escalated",
        "failed",
    ),
    start_events=("ticket.created",),
    terminal_states=("done", "resolved", "closed", "escalated", "failed"),
    transitions=(
        Transition("ticket.created", START, "classifying", step="classify"),
        Transition(
            "step.completed:classify:low_risk", "classifying", "drafting_reply", "draft_reply"
        ),
        Transition("step.completed:draft_reply", "drafting_reply", "done"),
        Transition(
            "step.completed:classify:needs_info", "classifying", "asking_customer", "request_info"
        ),
        Transition("step.completed:request_info", "asking_customer", "waiting_for_customer"),
        Transition("customer.replied", "waiting_for_customer", "classifying", step="classify"),
        Transition(
            "step.completed:classify:refund", "classifying", "proposing_refund", "propose_refund"
        ),
        Transition("step.completed:propose_refund", "proposing_refund", "awaiting_approval"),
        Transition("approval.granted", "awaiting_approval", "executing_refund", "execute_refund"),
        Transition("step.completed:execute_refund", "executing_refund", "resolved"),
        Transition("approval.denied", "awaiting_approval", "revising", step="revise"),
        Transition("step.completed:revise:resubmit", "revising", "awaiting_approval"),
        Transition("step.completed:revise:withdraw", "revising", "closed"),
        Transition("timer.fired:approval_deadline", "awaiting_approval", "escalated"),
        *(Transition("ticket.closed", state, "closed") for state in CLOSABLE),
    ),
    approval_steps=(
        ApprovalStep(
            state="awaiting_approval",
            step="approve_refund",
            required_role="refund_approver",
            deadline="approval_deadline",
            summary="Approve the proposed refund",
        ),
    ),
    deadlines=(Deadline("approval_deadline", "awaiting_approval", APPROVAL_DEADLINE_MS),),
    steps=STEPS,
    tools=(ISSUE_REFUND,),
)
