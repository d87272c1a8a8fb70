"""EventFactory: valid envelopes for one workflow with sequential, deterministic ids
(``<workflow_id>/e<n>``), and ``step.completed``/``step.failed`` answers built straight from a
:class:`~processors.engine.records.StepCommand`, the way a step worker would.
"""

from __future__ import annotations

import json
from typing import Any

from agentflow.testing.actors import CUSTOMER, MONITOR, REVIEWER, STEP_WORKER
from agentflow.testing.samples import T0
from processors.engine.records import StepCommand
from processors.events import (
    Actor,
    AlertFiredPayloadV1,
    AlertFiredV1,
    AlertResolvedPayloadV1,
    AlertResolvedV1,
    ApprovalDecision,
    ApprovalDecisionV2,
    ApprovalDeniedV1,
    ApprovalDeniedV2,
    ApprovalGrantedV1,
    ApprovalGrantedV2,
    ApprovalRequestedV1,
    CustomerRepliedPayloadV1,
    CustomerRepliedV1,
    DeploymentCompletedPayloadV1,
    DeploymentCompletedV1,
    StepCompletedPayloadV1,
    StepCompletedV1,
    StepFailedPayloadV1,
    StepFailedV1,
    TicketClosedPayloadV1,
    TicketClosedV1,
    TicketCreatedPayloadV1,
    TicketCreatedV1,
    proposal_hash,
)


class EventFactory:
    """Events of one workflow; each call takes the next id and a later ``occurred_at``."""

    def __init__(self, workflow_id: str, tenant: str = "acme", start_ms: int = T0) -> None:
        self.workflow_id = workflow_id
        self.tenant = tenant
        self.start_ms = start_ms
        self.count = 0

    def _env(self, actor: Actor, source: str = "test") -> dict[str, Any]:
        self.count += 1
        return {
            "event_id": f"{self.workflow_id}/e{self.count}",
            "occurred_at": self.start_ms + self.count * 1000,
            "source": source,
            "tenant": self.tenant,
            "actor": actor,
            "workflow_id": self.workflow_id,
        }

    def ticket_created(self, subject: str = "Charged twice") -> TicketCreatedV1:
        payload = TicketCreatedPayloadV1(
            ticket_id=f"T-{self.workflow_id}",
            subject=subject,
            body="Please help.",
            customer_id="cust-1",
        )
        return TicketCreatedV1(**self._env(CUSTOMER), payload=payload)

    def customer_replied(self, body: str = "Order 5521.") -> CustomerRepliedV1:
        payload = CustomerRepliedPayloadV1(
            ticket_id=f"T-{self.workflow_id}",
            customer_id="cust-1",
            message_id=f"m{self.count + 1}",
            body=body,
        )
        return CustomerRepliedV1(**self._env(CUSTOMER), payload=payload)

    def ticket_closed(self, resolution: str = "solved") -> TicketClosedV1:
        payload = TicketClosedPayloadV1(ticket_id=f"T-{self.workflow_id}", resolution=resolution)
        return TicketClosedV1(**self._env(CUSTOMER), payload=payload)

    def _decision(self, approval_id: str, step: str, decision: str) -> ApprovalDecision:
        return ApprovalDecision.model_validate(
            {
                "approval_id": approval_id,
                "step": step,
                "reviewer_id": REVIEWER.id,
                "decision": decision,
                "decided_at": self.start_ms + (self.count + 1) * 1000,
            }
        )

    def approval_granted(self, request: ApprovalRequestedV1) -> ApprovalGrantedV1:
        """Grant the approval ``request`` asked for."""
        answer = self._decision(request.payload.approval_id, request.payload.step, "granted")
        return ApprovalGrantedV1(**self._env(REVIEWER, "console"), payload=answer)

    def approval_denied(self, request: ApprovalRequestedV1) -> ApprovalDeniedV1:
        """Deny the approval ``request`` asked for."""
        answer = self._decision(request.payload.approval_id, request.payload.step, "denied")
        return ApprovalDeniedV1(**self._env(REVIEWER, "console"), payload=answer)

    def approval(
        self, approval_id: str, step: str, granted: bool = True
    ) -> ApprovalGrantedV1 | ApprovalDeniedV1:
        """An answer to an arbitrary approval id (to test refusals)."""
        if granted:
            answer = self._decision(approval_id, step, "granted")
            return ApprovalGrantedV1(**self._env(REVIEWER, "console"), payload=answer)
        answer = self._decision(approval_id, step, "denied")
        return ApprovalDeniedV1(**self._env(REVIEWER, "console"), payload=answer)

    def approval_answer(
        self,
        request: ApprovalRequestedV1,
        *,
        granted: bool = True,
        reviewer: Actor = REVIEWER,
        changes: dict[str, str] | None = None,
        shown: dict[str, str] | None = None,
    ) -> ApprovalGrantedV2 | ApprovalDeniedV2:
        """A v2 answer to ``request`` by ``reviewer``: with ``changes`` (field -> new value)
        and the hash of the proposal it was shown (``shown``; default: the request's)."""
        proposal = request.payload.proposal
        answer = ApprovalDecisionV2.model_validate(
            {
                "approval_id": request.payload.approval_id,
                "step": request.payload.step,
                "reviewer_id": reviewer.id,
                "decision": "granted" if granted else "denied",
                "decided_at": self.start_ms + (self.count + 1) * 1000,
                "changes": [
                    {"field": k, "old_value": proposal.get(k), "new_value": v}
                    for k, v in (changes or {}).items()
                ],
                "proposal_hash": proposal_hash(proposal if shown is None else shown),
            }
        )
        env = self._env(reviewer, "console")
        if granted:
            return ApprovalGrantedV2(**env, payload=answer)
        return ApprovalDeniedV2(**env, payload=answer)

    def alert_fired(self) -> AlertFiredV1:
        payload = AlertFiredPayloadV1(
            alert_id="al-1",
            service="checkout",
            name="HighErrorRate",
            severity="critical",
            summary="5xx > 2%",
            started_at=self.start_ms,
        )
        return AlertFiredV1(**self._env(MONITOR, "ops"), payload=payload)

    def alert_resolved(self) -> AlertResolvedV1:
        payload = AlertResolvedPayloadV1(
            alert_id="al-1",
            service="checkout",
            name="HighErrorRate",
            resolved_at=self.start_ms + 60_000,
        )
        return AlertResolvedV1(**self._env(MONITOR, "ops"), payload=payload)

    def deployment_completed(self, version: str = "v2") -> DeploymentCompletedV1:
        payload = DeploymentCompletedPayloadV1(
            deployment_id=f"dep-{version}",
            service="checkout",
            version=version,
            environment="prod",
            status="succeeded",
            started_at=self.start_ms,
            finished_at=self.start_ms + 1,
        )
        return DeploymentCompletedV1(**self._env(MONITOR, "ops"), payload=payload)

    def step_completed(
        self, command: StepCommand, result: dict[str, Any] | None = None
    ) -> StepCompletedV1:
        """The worker's success answer to ``command``; ``result`` becomes ``result_json``."""
        payload = StepCompletedPayloadV1(
            step=command.step,
            command_id=command.command_id,
            attempt=command.attempt,
            result_json=json.dumps(result or {}, sort_keys=True),
        )
        env = self._env(STEP_WORKER, "agentflow")
        env["causation_id"] = command.causation_id
        return StepCompletedV1(**env, payload=payload)

    def step_failed(
        self, command: StepCommand, error_class: str = "transient", message: str = "timeout"
    ) -> StepFailedV1:
        """The worker's failure answer to ``command``."""
        payload = StepFailedPayloadV1.model_validate(
            {
                "step": command.step,
                "command_id": command.command_id,
                "attempt": command.attempt,
                "error_class": error_class,
                "error_message": message,
            }
        )
        env = self._env(STEP_WORKER, "agentflow")
        env["causation_id"] = command.causation_id
        return StepFailedV1(**env, payload=payload)
