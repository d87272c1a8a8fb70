"""The event models: one payload and one envelope class per
``avro_schemas/events/<event_type>.v<N>.avsc``.

Each payload mirrors the ``payload`` record of its schema; a unit test keeps every model equal
to its schema field by field. approval.granted/denied use the shared
:class:`~processors.events.common.ApprovalDecision`.

**Adding an event type** touches this module and the ``.avsc`` file only: write the schema,
then its payload model and its envelope class below (``event_type`` and ``schema_version`` as
``Literal`` defaults). :data:`EVENT_CLASSES` and :func:`model_for` find it by itself; the test
kit makes a sample of it from its schema.

Construct events with keyword arguments; ``event_type`` and ``schema_version`` default to the
class's own::

    TicketCreatedV1(event_id="e-1", occurred_at=1718000000000, source="zendesk", tenant="acme",
                    actor=Actor(id="u-1", kind="user"), workflow_id="wf-1",
                    payload=TicketCreatedPayloadV1(...))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Self

from pydantic import Field, model_validator

from processors.events.common import (
    ApprovalDecision,
    ApprovalDecisionV2,
    AvroModel,
    EpochMillis,
    FieldChange,
    Int32,
    Int64,
)
from processors.events.envelope import Envelope


class TicketCreatedPayloadV1(AvroModel):
    """ticket.created v1."""

    ticket_id: str
    subject: str
    body: str
    customer_id: str
    customer_email: str | None = None
    tags: list[str] = Field(default_factory=list)


class TicketCreatedPayloadV2(TicketCreatedPayloadV1):
    """ticket.created v2: adds ``priority`` (low, normal, high, urgent), default normal."""

    priority: str = "normal"


class TicketUpdatedPayloadV1(AvroModel):
    """ticket.updated v1: the fields that changed."""

    ticket_id: str
    changes: list[FieldChange]


class CustomerRepliedPayloadV1(AvroModel):
    """customer.replied v1. ``attachment_ids`` are document ids."""

    ticket_id: str
    customer_id: str
    message_id: str
    body: str
    attachment_ids: list[str] = Field(default_factory=list)


class TicketClosedPayloadV1(AvroModel):
    """ticket.closed v1."""

    ticket_id: str
    resolution: str
    note: str | None = None


class RefundProposedPayloadV1(AvroModel):
    """refund.proposed v1. ``amount_minor`` is in minor units (cents) of ``currency``."""

    ticket_id: str
    refund_id: str
    order_id: str
    amount_minor: Int64
    currency: str
    reason: str
    confidence: float | None = None


class ApprovalRequestedPayloadV1(AvroModel):
    """approval.requested v1. ``proposal`` holds the values the reviewer may change."""

    approval_id: str
    step: str
    subject: str
    summary: str
    proposal: dict[str, str]
    required_role: str
    due_at: EpochMillis | None = None


class DocumentUploadedPayloadV1(AvroModel):
    """document.uploaded v1. ``sha256`` is lowercase hex."""

    document_id: str
    filename: str
    content_type: str
    size_bytes: Int64
    sha256: str
    uri: str
    ticket_id: str | None = None


AlertSeverity = Literal["info", "warning", "critical"]


class AlertFiredPayloadV1(AvroModel):
    """alert.fired v1."""

    alert_id: str
    service: str
    name: str
    severity: AlertSeverity
    summary: str
    labels: dict[str, str] = Field(default_factory=dict)
    started_at: EpochMillis


class AlertResolvedPayloadV1(AvroModel):
    """alert.resolved v1."""

    alert_id: str
    service: str
    name: str
    resolved_at: EpochMillis
    resolution: str | None = None


DeploymentStatus = Literal["succeeded", "failed", "rolled_back"]


class DeploymentCompletedPayloadV1(AvroModel):
    """deployment.completed v1."""

    deployment_id: str
    service: str
    version: str
    environment: str
    status: DeploymentStatus
    started_at: EpochMillis
    finished_at: EpochMillis
    commit_sha: str | None = None


JobStatus = Literal["succeeded", "failed", "cancelled"]


class JobCompletedPayloadV1(AvroModel):
    """job.completed v1."""

    job_id: str
    job_name: str
    status: JobStatus
    exit_code: Int32 | None = None
    duration_ms: Int64
    output_uri: str | None = None


class StepCompletedPayloadV1(AvroModel):
    """step.completed v1. ``command_id`` is the idempotency key; ``result_json`` is JSON text."""

    step: str
    command_id: str
    attempt: Int32
    result_json: str
    duration_ms: Int64 | None = None


class ReplyDraftedPayloadV1(AvroModel):
    """reply.drafted v1: an agent's draft reply to a ticket (an agent output)."""

    ticket_id: str
    text: str


class RefundRecommendedPayloadV1(AvroModel):
    """refund.recommended v1: an agent's refund recommendation, before approval."""

    ticket_id: str
    amount: str
    currency: str


class PostmortemDraftedPayloadV1(AvroModel):
    """postmortem.drafted v1: an agent's draft postmortem of an incident."""

    alert_id: str
    service: str
    summary: str


class StepUsageV1(AvroModel):
    """What a model step cost: the model, tokens, model requests, and a cost where known."""

    model: str
    input_tokens: Int64
    output_tokens: Int64
    requests: Int32
    cost_usd: str | None = None


class ToolCallV1(AvroModel):
    """One tool call of a step, as the runner's toolbox recorded it."""

    tool: str
    impact: str
    status: str
    idempotency_key: str | None = None
    error_type: str | None = None


class StepCompletedPayloadV2(StepCompletedPayloadV1):
    """step.completed v2: adds ``usage`` (None for a plain-Python step) and ``tool_calls``."""

    usage: StepUsageV1 | None = None
    tool_calls: list[ToolCallV1] = Field(default_factory=list)


ErrorClass = Literal["transient", "permanent"]


class StepFailedPayloadV1(AvroModel):
    """step.failed v1. ``transient`` errors may succeed on retry; ``permanent`` ones will not."""

    step: str
    command_id: str
    attempt: Int32
    error_class: ErrorClass
    error_message: str
    error_type: str | None = None


class StepFailedPayloadV2(StepFailedPayloadV1):
    """step.failed v2: adds what the step cost before it failed (``usage``; None for a
    plain-Python step) and ``tool_calls``, refused ones included."""

    usage: StepUsageV1 | None = None
    tool_calls: list[ToolCallV1] = Field(default_factory=list)


class TimerFiredPayloadV1(AvroModel):
    """timer.fired v1. ``kind`` says what the timer is for; ``subject_id`` what it guards."""

    timer_id: str
    kind: str
    due_at: EpochMillis
    subject_id: str | None = None


class ScheduleFiredPayloadV1(AvroModel):
    """schedule.fired v1: a tick of schedule ``schedule``, due at ``due_at``."""

    schedule: str
    due_at: EpochMillis
    data: dict[str, str] = Field(default_factory=dict)


ScheduleAction = Literal["pause", "resume"]


class ScheduleControlPayloadV1(AvroModel):
    """schedule.control v1: pause or resume schedule ``schedule``."""

    schedule: str
    action: ScheduleAction


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


class ApprovalGrantedV2(ApprovalGrantedV1):
    """approval.granted v2: with the hash of the proposal the reviewer was shown."""

    schema_version: Literal[2] = 2  # type: ignore[assignment]
    payload: ApprovalDecisionV2


class ApprovalDeniedV2(ApprovalDeniedV1):
    """approval.denied v2: with the hash of the proposal the reviewer was shown."""

    schema_version: Literal[2] = 2  # type: ignore[assignment]
    payload: ApprovalDecisionV2


class StepCompletedV1(Envelope):
    event_type: Literal["step.completed"] = "step.completed"
    schema_version: Literal[1] = 1
    payload: StepCompletedPayloadV1


class StepCompletedV2(Envelope):
    event_type: Literal["step.completed"] = "step.completed"
    schema_version: Literal[2] = 2
    payload: StepCompletedPayloadV2


class ReplyDraftedV1(Envelope):
    event_type: Literal["reply.drafted"] = "reply.drafted"
    schema_version: Literal[1] = 1
    payload: ReplyDraftedPayloadV1


class RefundRecommendedV1(Envelope):
    event_type: Literal["refund.recommended"] = "refund.recommended"
    schema_version: Literal[1] = 1
    payload: RefundRecommendedPayloadV1


class PostmortemDraftedV1(Envelope):
    event_type: Literal["postmortem.drafted"] = "postmortem.drafted"
    schema_version: Literal[1] = 1
    payload: PostmortemDraftedPayloadV1


class StepFailedV1(Envelope):
    event_type: Literal["step.failed"] = "step.failed"
    schema_version: Literal[1] = 1
    payload: StepFailedPayloadV1


class StepFailedV2(Envelope):
    event_type: Literal["step.failed"] = "step.failed"
    schema_version: Literal[2] = 2
    payload: StepFailedPayloadV2


class TimerFiredV1(Envelope):
    event_type: Literal["timer.fired"] = "timer.fired"
    schema_version: Literal[1] = 1
    payload: TimerFiredPayloadV1


class ScheduleFiredV1(Envelope):
    event_type: Literal["schedule.fired"] = "schedule.fired"
    schema_version: Literal[1] = 1
    payload: ScheduleFiredPayloadV1


class ScheduleControlV1(Envelope):
    event_type: Literal["schedule.control"] = "schedule.control"
    schema_version: Literal[1] = 1
    payload: ScheduleControlPayloadV1


def _concrete(cls: type[Envelope]) -> list[type[Envelope]]:
    found: list[type[Envelope]] = []
    for sub in cls.__subclasses__():
        if isinstance(sub.model_fields["event_type"].default, str):  # a Literal default
            found.append(sub)
        found += _concrete(sub)
    return found


EVENT_CLASSES: tuple[type[Envelope], ...] = tuple(_concrete(Envelope))
"""Every event class defined above, in definition order: a new one needs no list edited."""

EVENT_MODELS: Mapping[tuple[str, int], type[Envelope]] = {
    cls.schema_key(): cls for cls in EVENT_CLASSES
}
"""Event class by ``(event_type, schema_version)``."""


def model_for(event_type: str, version: int) -> type[Envelope] | None:
    """The event class of ``event_type`` at ``version``, or None."""
    return EVENT_MODELS.get((event_type, version))
