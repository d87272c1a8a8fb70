"""Pydantic models of the event payloads, one per event type and version.

Each mirrors the ``payload`` record of ``avro_schemas/events/<event_type>.v<N>.avsc``; a unit
test keeps them equal field by field. approval.granted/denied use the shared
:class:`~processors.events.common.ApprovalDecision`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from processors.events.common import AvroModel, EpochMillis, FieldChange, Int32, Int64


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


ErrorClass = Literal["transient", "permanent"]


class StepFailedPayloadV1(AvroModel):
    """step.failed v1. ``transient`` errors may succeed on retry; ``permanent`` ones will not."""

    step: str
    command_id: str
    attempt: Int32
    error_class: ErrorClass
    error_message: str
    error_type: str | None = None


class TimerFiredPayloadV1(AvroModel):
    """timer.fired v1. ``kind`` says what the timer is for; ``subject_id`` what it guards."""

    timer_id: str
    kind: str
    due_at: EpochMillis
    subject_id: str | None = None
