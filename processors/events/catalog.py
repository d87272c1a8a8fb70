"""The concrete event classes, one per ``avro_schemas/events/<event_type>.v<N>.avsc``.

Construct events with keyword arguments; ``event_type`` and ``schema_version`` default to the
class's own::

    TicketCreatedV1(event_id="e-1", occurred_at=1718000000000, source="zendesk", tenant="acme",
                    actor=Actor(id="u-1", kind="user"), workflow_id="wf-1",
                    payload=TicketCreatedPayloadV1(...))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Self

from pydantic import model_validator

from processors.events.common import ApprovalDecision
from processors.events.envelope import Envelope
from processors.events.payloads import (
    AlertFiredPayloadV1,
    AlertResolvedPayloadV1,
    ApprovalRequestedPayloadV1,
    CustomerRepliedPayloadV1,
    DeploymentCompletedPayloadV1,
    DocumentUploadedPayloadV1,
    JobCompletedPayloadV1,
    RefundProposedPayloadV1,
    StepCompletedPayloadV1,
    StepFailedPayloadV1,
    TicketClosedPayloadV1,
    TicketCreatedPayloadV1,
    TicketCreatedPayloadV2,
    TicketUpdatedPayloadV1,
    TimerFiredPayloadV1,
)


class TicketCreatedV1(Envelope):
    event_type: Literal["ticket.created"] = "ticket.created"
    schema_version: Literal[1] = 1
    payload: TicketCreatedPayloadV1


class TicketCreatedV2(Envelope):
    event_type: Literal["ticket.created"] = "ticket.created"
    schema_version: Literal[2] = 2
    payload: TicketCreatedPayloadV2


class TicketUpdatedV1(Envelope):
    event_type: Literal["ticket.updated"] = "ticket.updated"
    schema_version: Literal[1] = 1
    payload: TicketUpdatedPayloadV1


class CustomerRepliedV1(Envelope):
    event_type: Literal["customer.replied"] = "customer.replied"
    schema_version: Literal[1] = 1
    payload: CustomerRepliedPayloadV1


class TicketClosedV1(Envelope):
    event_type: Literal["ticket.closed"] = "ticket.closed"
    schema_version: Literal[1] = 1
    payload: TicketClosedPayloadV1


class RefundProposedV1(Envelope):
    event_type: Literal["refund.proposed"] = "refund.proposed"
    schema_version: Literal[1] = 1
    payload: RefundProposedPayloadV1


class ApprovalRequestedV1(Envelope):
    event_type: Literal["approval.requested"] = "approval.requested"
    schema_version: Literal[1] = 1
    payload: ApprovalRequestedPayloadV1


class ApprovalGrantedV1(Envelope):
    """approval.granted v1; ``payload.decision`` must be ``granted``."""

    event_type: Literal["approval.granted"] = "approval.granted"
    schema_version: Literal[1] = 1
    payload: ApprovalDecision

    @model_validator(mode="after")
    def _decision_matches(self) -> Self:
        if self.payload.decision != "granted":
            raise ValueError("approval.granted must carry decision 'granted'")
        return self


class ApprovalDeniedV1(Envelope):
    """approval.denied v1; ``payload.decision`` must be ``denied``."""

    event_type: Literal["approval.denied"] = "approval.denied"
    schema_version: Literal[1] = 1
    payload: ApprovalDecision

    @model_validator(mode="after")
    def _decision_matches(self) -> Self:
        if self.payload.decision != "denied":
            raise ValueError("approval.denied must carry decision 'denied'")
        return self


class DocumentUploadedV1(Envelope):
    event_type: Literal["document.uploaded"] = "document.uploaded"
    schema_version: Literal[1] = 1
    payload: DocumentUploadedPayloadV1


class AlertFiredV1(Envelope):
    event_type: Literal["alert.fired"] = "alert.fired"
    schema_version: Literal[1] = 1
    payload: AlertFiredPayloadV1


class AlertResolvedV1(Envelope):
    event_type: Literal["alert.resolved"] = "alert.resolved"
    schema_version: Literal[1] = 1
    payload: AlertResolvedPayloadV1


class DeploymentCompletedV1(Envelope):
    event_type: Literal["deployment.completed"] = "deployment.completed"
    schema_version: Literal[1] = 1
    payload: DeploymentCompletedPayloadV1


class JobCompletedV1(Envelope):
    event_type: Literal["job.completed"] = "job.completed"
    schema_version: Literal[1] = 1
    payload: JobCompletedPayloadV1


class StepCompletedV1(Envelope):
    event_type: Literal["step.completed"] = "step.completed"
    schema_version: Literal[1] = 1
    payload: StepCompletedPayloadV1


class StepFailedV1(Envelope):
    event_type: Literal["step.failed"] = "step.failed"
    schema_version: Literal[1] = 1
    payload: StepFailedPayloadV1


class TimerFiredV1(Envelope):
    event_type: Literal["timer.fired"] = "timer.fired"
    schema_version: Literal[1] = 1
    payload: TimerFiredPayloadV1


EVENT_CLASSES: tuple[type[Envelope], ...] = (
    TicketCreatedV1,
    TicketCreatedV2,
    TicketUpdatedV1,
    CustomerRepliedV1,
    TicketClosedV1,
    RefundProposedV1,
    ApprovalRequestedV1,
    ApprovalGrantedV1,
    ApprovalDeniedV1,
    DocumentUploadedV1,
    AlertFiredV1,
    AlertResolvedV1,
    DeploymentCompletedV1,
    JobCompletedV1,
    StepCompletedV1,
    StepFailedV1,
    TimerFiredV1,
)

EVENT_MODELS: Mapping[tuple[str, int], type[Envelope]] = {
    cls.schema_key(): cls for cls in EVENT_CLASSES
}
"""Event class by ``(event_type, schema_version)``."""


def model_for(event_type: str, version: int) -> type[Envelope] | None:
    """The event class of ``event_type`` at ``version``, or None."""
    return EVENT_MODELS.get((event_type, version))
