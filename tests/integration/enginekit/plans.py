"""Workflow plans: a deterministic mix of workflows (low-risk and refund tickets, incidents,
duplicates, events sent before their workflow's start event), each with the events to send
and the decisions and final state the definitions say it must reach."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from agentflow.testing import REVIEWER
from processors.events import (
    Actor,
    AlertFiredPayloadV1,
    AlertFiredV1,
    AlertResolvedPayloadV1,
    AlertResolvedV1,
    ApprovalDecision,
    ApprovalGrantedV1,
    ApprovalRequestedV1,
    CustomerRepliedPayloadV1,
    CustomerRepliedV1,
    DeploymentCompletedPayloadV1,
    DeploymentCompletedV1,
    Envelope,
    TicketClosedPayloadV1,
    TicketClosedV1,
    TicketCreatedPayloadV1,
    TicketCreatedV1,
)

#: Payload timestamps are fixed, so two runs of the same plans send the same payloads.
PAYLOAD_MS = 1_718_000_000_000

CUSTOMER = Actor(id="cust-77", kind="user", roles=["customer"])
MONITOR = Actor(id="alertmanager", kind="service", roles=["monitoring"])
APPROVER = REVIEWER

Kind = str
KINDS: tuple[Kind, ...] = (
    "low_risk",  # ticket.created -> classify low_risk -> draft_reply -> done
    "refund",  # ticket.created -> classify refund -> propose -> approval granted -> resolved
    "closed_first",  # ticket.closed held before ticket.created, applied on start -> closed
    "replied_first",  # customer.replied held, refused once the ticket cannot wait -> done
    "resolved_first",  # alert.resolved held until the incident waits -> done
    "deploy_first",  # deployment.completed and alert.resolved held -> correlate -> done
)


@dataclass
class Plan:
    """One workflow: what to send, and what the definitions say must come of it."""

    workflow_id: str
    kind: Kind
    tenant: str
    events: list[Envelope]  # in production order; a duplicate is the same object twice
    approvals: int  # how many times to send the approval answer (a duplicate: 2)
    status: str
    completed_steps: list[str]
    decisions: Counter[str]
    quarantine: Counter[str]  # reason -> count

    @property
    def audits(self) -> int:
        return sum(self.decisions.values())


def _env(wf: str, tenant: str, name: str, actor: Actor, source: str) -> dict[str, Any]:
    return {
        "event_id": f"{wf}/{name}",
        "occurred_at": int(time.time() * 1000),
        "source": source,
        "tenant": tenant,
        "actor": actor,
        "workflow_id": wf,
    }


def ticket_created(wf: str, tenant: str, refund: bool) -> TicketCreatedV1:
    # The scripted classifier says "refund" when the step input mentions a refund or a
    # double charge, so nothing else (ids included) may say so.
    subject, body = (
        ("Charged twice", "Please refund one of the charges.")
        if refund
        else ("Password reset", "I cannot log in since Monday.")
    )
    payload = TicketCreatedPayloadV1(
        ticket_id=f"T-{wf}", subject=subject, body=body, customer_id=CUSTOMER.id
    )
    return TicketCreatedV1(**_env(wf, tenant, "created", CUSTOMER, "helpdesk"), payload=payload)


def ticket_closed(wf: str, tenant: str) -> TicketClosedV1:
    payload = TicketClosedPayloadV1(ticket_id=f"T-{wf}", resolution="solved elsewhere")
    return TicketClosedV1(**_env(wf, tenant, "closed", CUSTOMER, "helpdesk"), payload=payload)


def customer_replied(wf: str, tenant: str) -> CustomerRepliedV1:
    payload = CustomerRepliedPayloadV1(
        ticket_id=f"T-{wf}", customer_id=CUSTOMER.id, message_id=f"m-{wf}", body="Any news?"
    )
    return CustomerRepliedV1(**_env(wf, tenant, "replied", CUSTOMER, "helpdesk"), payload=payload)


def alert_fired(wf: str, tenant: str) -> AlertFiredV1:
    payload = AlertFiredPayloadV1(
        alert_id=f"al-{wf}",
        service="checkout",
        name="HighErrorRate",
        severity="critical",
        summary="5xx above 2%",
        started_at=PAYLOAD_MS,
    )
    return AlertFiredV1(**_env(wf, tenant, "fired", MONITOR, "monitoring"), payload=payload)


def alert_resolved(wf: str, tenant: str) -> AlertResolvedV1:
    payload = AlertResolvedPayloadV1(
        alert_id=f"al-{wf}", service="checkout", name="HighErrorRate", resolved_at=PAYLOAD_MS + 1
    )
    return AlertResolvedV1(**_env(wf, tenant, "resolved", MONITOR, "monitoring"), payload=payload)


def deployment_completed(wf: str, tenant: str) -> DeploymentCompletedV1:
    payload = DeploymentCompletedPayloadV1(
        deployment_id=f"dep-{wf}",
        service="checkout",
        version="v2",
        environment="prod",
        status="succeeded",
        started_at=PAYLOAD_MS,
        finished_at=PAYLOAD_MS + 1,
    )
    return DeploymentCompletedV1(
        **_env(wf, tenant, "deployed", MONITOR, "monitoring"), payload=payload
    )


def approval_granted(request: ApprovalRequestedV1) -> ApprovalGrantedV1:
    """An approver user's grant of ``request`` (its id derives from the approval id)."""
    p = request.payload
    answer = ApprovalDecision(
        approval_id=p.approval_id,
        step=p.step,
        reviewer_id=APPROVER.id,
        decision="granted",
        decided_at=PAYLOAD_MS,
    )
    env = _env(
        request.workflow_id, request.tenant, f"grant-{p.approval_id}", APPROVER, "approvals-ui"
    )
    env["causation_id"] = request.event_id
    return ApprovalGrantedV1(**env, payload=answer)


def plan(i: int, kind: Kind, *, duplicate: bool = False, name: str = "wf") -> Plan:
    """Workflow ``i`` of ``kind``; ``duplicate`` sends one of its events twice."""
    wf = f"{name}-{i:05d}"
    tenant = "acme" if i % 3 else "globex"
    dup = 1 if duplicate else 0
    if kind == "low_risk":
        created = ticket_created(wf, tenant, refund=False)
        return Plan(
            wf, kind, tenant, [created] * (1 + dup), 0, "done",
            ["classify", "draft_reply"],
            Counter(applied=3, duplicate=dup), Counter(),
        )  # fmt: skip
    if kind == "refund":
        return Plan(
            wf, kind, tenant, [ticket_created(wf, tenant, refund=True)], 1 + dup, "resolved",
            ["classify", "propose_refund", "execute_refund"],
            Counter(applied=5, duplicate=dup), Counter(),
        )  # fmt: skip
    if kind == "closed_first":
        # held; start; the held close applied at once; the classify answer comes too late
        # and is ignored (recorded, not quarantined).
        closed = ticket_closed(wf, tenant)
        return Plan(
            wf, kind, tenant, [closed] * (1 + dup) + [ticket_created(wf, tenant, refund=False)],
            0, "closed", [],
            Counter(held=1, applied=2, ignored=1, duplicate=dup),
            Counter(),
        )  # fmt: skip
    if kind == "replied_first":
        # held through classifying (waiting_for_customer is reachable), refused in
        # drafting_reply (it is not any more).
        return Plan(
            wf, kind, tenant,
            [customer_replied(wf, tenant), ticket_created(wf, tenant, refund=False)],
            0, "done", ["classify", "draft_reply"],
            Counter(held=1, applied=3, rejected=1), Counter(invalid_transition=1),
        )  # fmt: skip
    if kind == "resolved_first":
        fired = alert_fired(wf, tenant)
        return Plan(
            wf, kind, tenant, [alert_resolved(wf, tenant)] + [fired] * (1 + dup),
            0, "done", ["gather_context", "draft_postmortem"],
            Counter(held=1, applied=4, duplicate=dup), Counter(),
        )  # fmt: skip
    if kind == "deploy_first":
        return Plan(
            wf, kind, tenant,
            [deployment_completed(wf, tenant), alert_resolved(wf, tenant), alert_fired(wf, tenant)],
            0, "done", ["gather_context", "correlate_deployment", "draft_postmortem"],
            Counter(held=2, applied=6), Counter(),
        )  # fmt: skip
    raise ValueError(kind)


#: The states each kind of workflow passes through (``history[*].to_state``).
PATHS: dict[Kind, tuple[str, ...]] = {
    "low_risk": ("classifying", "drafting_reply", "done"),
    "refund": (
        "classifying", "proposing_refund", "awaiting_approval", "executing_refund", "resolved"
    ),
    "closed_first": ("classifying", "closed"),
    "replied_first": ("classifying", "drafting_reply", "done"),
    "resolved_first": ("gathering_context", "waiting", "drafting_postmortem", "done"),
    "deploy_first": (
        "gathering_context", "waiting", "correlating", "waiting", "drafting_postmortem", "done"
    ),
}  # fmt: skip

#: The mix, per 20 workflows: (kind, duplicated?) in turn.
MIX: tuple[tuple[Kind, bool], ...] = (
    ("low_risk", False), ("refund", False), ("low_risk", True), ("resolved_first", False),
    ("refund", True), ("closed_first", False), ("low_risk", False), ("deploy_first", False),
    ("refund", False), ("replied_first", False), ("low_risk", False), ("resolved_first", True),
    ("refund", False), ("closed_first", True), ("low_risk", True), ("deploy_first", False),
    ("refund", True), ("low_risk", False), ("resolved_first", False), ("refund", False),
)  # fmt: skip


def build_plans(n: int, name: str = "wf") -> list[Plan]:
    """``n`` workflows in the fixed :data:`MIX` (deterministic: the same ``n`` gives the same
    plans but for ``occurred_at``)."""
    return [
        plan(i, MIX[i % len(MIX)][0], duplicate=MIX[i % len(MIX)][1], name=name) for i in range(n)
    ]


def definition_of(kind: Kind) -> str:
    """The workflow definition a plan of ``kind`` runs."""
    return (
        "incident_investigation"
        if kind in ("resolved_first", "deploy_first")
        else ("support_triage")
    )
