"""One realistic, deterministic example of every event class, for tests, demos and benchmarks.

All events of :func:`sample_events` belong to one refund workflow (``wf-acme-1001``) except the
ops events, which share ``wf-ops-checkout``. Timestamps are fixed epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from agentflow.testing.actors import CUSTOMER, MONITOR, REVIEWER, RUNTIME
from agentflow.testing.actors import STEP_WORKER as AGENT
from processors.events import EVENT_CLASSES, default_registry, proposal_hash
from processors.events.catalog import (
    AlertFiredPayloadV1,
    AlertFiredV1,
    AlertResolvedPayloadV1,
    AlertResolvedV1,
    ApprovalDeniedV1,
    ApprovalDeniedV2,
    ApprovalGrantedV1,
    ApprovalGrantedV2,
    ApprovalRequestedPayloadV1,
    ApprovalRequestedV1,
    CustomerRepliedPayloadV1,
    CustomerRepliedV1,
    DeploymentCompletedPayloadV1,
    DeploymentCompletedV1,
    DocumentUploadedPayloadV1,
    DocumentUploadedV1,
    JobCompletedPayloadV1,
    JobCompletedV1,
    RefundProposedPayloadV1,
    RefundProposedV1,
    StepCompletedPayloadV1,
    StepCompletedPayloadV2,
    StepCompletedV1,
    StepCompletedV2,
    StepFailedPayloadV1,
    StepFailedV1,
    StepUsageV1,
    TicketClosedPayloadV1,
    TicketClosedV1,
    TicketCreatedPayloadV1,
    TicketCreatedPayloadV2,
    TicketCreatedV1,
    TicketCreatedV2,
    TicketUpdatedPayloadV1,
    TicketUpdatedV1,
    TimerFiredPayloadV1,
    TimerFiredV1,
    ToolCallV1,
)
from processors.events.common import (
    Actor,
    ApprovalDecision,
    ApprovalDecisionV2,
    AvroModel,
    FieldChange,
)
from processors.events.envelope import Envelope

T0 = 1_718_000_000_000  # 2024-06-10T06:13:20Z
WF = "wf-acme-1001"
OPS = "wf-ops-checkout"
ZD = "zendesk"

E = TypeVar("E", bound=Envelope)

_TICKET: dict[str, Any] = {
    "ticket_id": "T-1001",
    "subject": "Charged twice for order 5521",
    "body": "Hi, my card was charged twice for order #5521. Please refund one — thanks! 🙏",
    "customer_id": "cust-77",
    "customer_email": "ana@example.com",
    "tags": ["billing", "refund"],
}


def _at(n: int) -> int:
    return T0 + n * 60_000


def _make(
    cls: type[E],
    n: int,
    actor: Actor,
    payload: AvroModel,
    *,
    cause: int | None = None,
    source: str = "agentflow",
    workflow_id: str = WF,
) -> E:
    event_type, version = cls.schema_key()
    return cls(
        event_id=f"evt-{n:04d}",
        event_type=event_type,
        schema_version=version,
        occurred_at=_at(n),
        source=source,
        tenant="acme",
        actor=actor,
        workflow_id=workflow_id,
        causation_id=None if cause is None else f"evt-{cause:04d}",
        payload=payload,
    )


def _decision(decision: str, n: int) -> ApprovalDecision:
    granted = decision == "granted"
    return ApprovalDecision.model_validate(
        {
            "approval_id": "apr-1",
            "step": "approve_refund",
            "reviewer_id": REVIEWER.id,
            "decision": decision,
            "decided_at": _at(n) - 5_000,
            "changes": [{"field": "amount_minor", "old_value": "4999", "new_value": "4500"}]
            if granted
            else [],
            "comment": "Shipping is not refundable." if granted else "Duplicate request.",
        }
    )


def _decision_v2(decision: str, n: int) -> ApprovalDecisionV2:
    shown = proposal_hash({"amount_minor": "4999", "currency": "EUR"})
    return ApprovalDecisionV2.model_validate(
        {**_decision(decision, n).model_dump(), "proposal_hash": shown}
    )


def _ticket_events() -> list[Envelope]:
    return [
        _make(TicketCreatedV1, 1, CUSTOMER, TicketCreatedPayloadV1(**_TICKET), source=ZD),
        _make(
            TicketCreatedV2,
            2,
            CUSTOMER,
            TicketCreatedPayloadV2(**_TICKET, priority="high"),
            source=ZD,
        ),
        _make(
            TicketUpdatedV1,
            3,
            AGENT,
            TicketUpdatedPayloadV1(
                ticket_id="T-1001",
                changes=[
                    FieldChange(field="status", old_value="new", new_value="open"),
                    FieldChange(field="assignee", new_value="refund-agent"),
                ],
            ),
            cause=1,
        ),
        _make(
            CustomerRepliedV1,
            4,
            CUSTOMER,
            CustomerRepliedPayloadV1(
                ticket_id="T-1001",
                customer_id="cust-77",
                message_id="msg-9",
                body="Here is the bank statement.",
                attachment_ids=["doc-3"],
            ),
            source=ZD,
        ),
        _make(
            TicketClosedV1,
            5,
            AGENT,
            TicketClosedPayloadV1(ticket_id="T-1001", resolution="refunded", note="45.00 EUR"),
            cause=8,
        ),
    ]


def _approval_events() -> list[Envelope]:
    return [
        _make(
            RefundProposedV1,
            6,
            AGENT,
            RefundProposedPayloadV1(
                ticket_id="T-1001",
                refund_id="rf-1",
                order_id="5521",
                amount_minor=4999,
                currency="EUR",
                reason="duplicate charge",
                confidence=0.93,
            ),
            cause=4,
        ),
        _make(
            ApprovalRequestedV1,
            7,
            RUNTIME,
            ApprovalRequestedPayloadV1(
                approval_id="apr-1",
                step="approve_refund",
                subject="refund:rf-1",
                summary="Refund 49.99 EUR for a duplicate charge on order 5521",
                proposal={"amount_minor": "4999", "currency": "EUR"},
                required_role="refund_approver",
                due_at=_at(7) + 4 * 3_600_000,
            ),
            cause=6,
        ),
        _make(ApprovalGrantedV1, 8, REVIEWER, _decision("granted", 8), cause=7, source="console"),
        _make(ApprovalDeniedV1, 9, REVIEWER, _decision("denied", 9), cause=7, source="console"),
        *(
            _make(cls, n, REVIEWER, _decision_v2(kind, n), cause=7, source="console")
            for cls, n, kind in (
                (ApprovalGrantedV2, 20, "granted"),
                (ApprovalDeniedV2, 21, "denied"),
            )
        ),
        _make(
            DocumentUploadedV1,
            10,
            CUSTOMER,
            DocumentUploadedPayloadV1(
                document_id="doc-3",
                filename="statement-june.pdf",
                content_type="application/pdf",
                size_bytes=184_220,
                sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                uri="s3://acme-docs/T-1001/doc-3",
                ticket_id="T-1001",
            ),
            source=ZD,
        ),
    ]


def _ops_events() -> list[Envelope]:
    return [
        _make(
            AlertFiredV1,
            11,
            MONITOR,
            AlertFiredPayloadV1(
                alert_id="al-42",
                service="checkout",
                name="HighErrorRate",
                severity="critical",
                summary="5xx rate 7% > 2% for 10m",
                labels={"env": "prod", "region": "eu-west-1"},
                started_at=_at(10),
            ),
            source="ops",
            workflow_id=OPS,
        ),
        _make(
            AlertResolvedV1,
            12,
            MONITOR,
            AlertResolvedPayloadV1(
                alert_id="al-42",
                service="checkout",
                name="HighErrorRate",
                resolved_at=_at(12),
                resolution="rolled back to v2.3.0",
            ),
            source="ops",
            workflow_id=OPS,
        ),
        _make(
            DeploymentCompletedV1,
            13,
            Actor(id="argo", kind="service"),
            DeploymentCompletedPayloadV1(
                deployment_id="dep-88",
                service="checkout",
                version="v2.3.0",
                environment="prod",
                status="rolled_back",
                started_at=_at(11),
                finished_at=_at(12),
                commit_sha="3f2c1e0",
            ),
            source="ops",
            workflow_id=OPS,
        ),
        _make(
            JobCompletedV1,
            14,
            Actor(id="batch", kind="service"),
            JobCompletedPayloadV1(
                job_id="job-7",
                job_name="reconcile-payments",
                status="succeeded",
                exit_code=0,
                duration_ms=93_500,
            ),
            source="ops",
            workflow_id=OPS,
        ),
    ]


def _runtime_events() -> list[Envelope]:
    return [
        _make(
            StepCompletedV1,
            15,
            AGENT,
            StepCompletedPayloadV1(
                step="classify",
                command_id="cmd-wf-acme-1001-classify-1",
                attempt=1,
                result_json='{"intent":"refund","confidence":0.93}',
                duration_ms=1_840,
            ),
            cause=1,
        ),
        _make(
            StepCompletedV2,
            18,
            AGENT,
            StepCompletedPayloadV2(
                step="execute_refund",
                command_id="cmd-wf-acme-1001-execute_refund-1",
                attempt=1,
                result_json='{"outcome":"refunded","refund_id":"rf-00001"}',
                duration_ms=2_310,
                usage=StepUsageV1(
                    model="openai:gpt-4o-mini",
                    input_tokens=812,
                    output_tokens=64,
                    requests=2,
                    cost_usd="0.000160",
                ),
                tool_calls=[
                    ToolCallV1(
                        tool="issue_refund",
                        impact="high_impact",
                        status="called",
                        idempotency_key="wf-acme-1001/5be1/0",
                    )
                ],
            ),
            cause=1,
        ),
        _make(
            StepFailedV1,
            16,
            AGENT,
            StepFailedPayloadV1(
                step="lookup_order",
                command_id="cmd-wf-acme-1001-lookup_order-1",
                attempt=2,
                error_class="transient",
                error_message="orders API timed out after 5s",
                error_type="TimeoutError",
            ),
            cause=1,
        ),
        _make(
            TimerFiredV1,
            17,
            RUNTIME,
            TimerFiredPayloadV1(
                timer_id="tmr-apr-1",
                kind="approval_deadline",
                due_at=_at(7) + 4 * 3_600_000,
                subject_id="apr-1",
            ),
            cause=7,
        ),
    ]


def sample_events() -> tuple[Envelope, ...]:
    """One event per class of :data:`~processors.events.EVENT_CLASSES`, in that order: the
    hand-written, realistic ones above, and for an event type added since, one made from its
    schema (:func:`minimal_event`)."""
    written = _ticket_events() + _approval_events() + _ops_events() + _runtime_events()
    by_class = {type(e): e for e in written}
    return tuple(by_class.get(cls) or minimal_event(cls) for cls in EVENT_CLASSES)


def minimal_event(cls: type[Envelope], n: int = 99) -> Envelope:
    """An event of ``cls`` built from its schema: the first branch of every union, the first
    symbol of every enum, empty arrays and maps, ``"x"`` strings and small numbers. A model
    with rules across fields (approvals, say) may refuse it: give such a type a written
    sample."""
    event_type, version = cls.schema_key()
    entry = default_registry().event(event_type, version)
    if entry is None:
        raise ValueError(f"no schema for {event_type} v{version}")
    datum = _minimal(entry.wire_schema, entry.names)
    datum.update(
        event_type=event_type, schema_version=version, event_id=f"evt-{n:04d}",
        occurred_at=_at(n), source="agentflow", tenant="acme", actor=RUNTIME.model_dump(),
        workflow_id=WF, causation_id=None,
    )  # fmt: skip
    return cls.model_validate(datum)


_PRIMITIVES: dict[str, Any] = {
    "null": None, "boolean": False, "int": 1, "long": T0, "float": 1.0, "double": 1.0,
    "bytes": b"x", "string": "x",
}  # fmt: skip


def _minimal(schema: Any, names: Mapping[str, Any]) -> Any:
    if isinstance(schema, str):
        return _minimal(names[schema], names) if schema in names else _PRIMITIVES[schema]
    if isinstance(schema, list):
        return _minimal(schema[0], names)
    kind = schema["type"]
    if kind == "record":
        return {f["name"]: _minimal(f["type"], names) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][0]
    if kind in ("array", "map"):
        return [] if kind == "array" else {}
    if kind == "fixed":
        return b"\0" * schema["size"]
    return _minimal(kind, names)
