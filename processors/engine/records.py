"""The records the engine writes besides state: step commands, audit records, notices.

Each is a frozen msgspec Struct that mirrors its ``avro_schemas/internal/*.avsc`` file field
for field and type for type (a unit test keeps them equal), and is written with
:func:`processors.events.encode_model` (Avro single-object encoding), so consumers decode any
of them with :func:`processors.events.decode_record`.

Structs, not pydantic models: the engine builds several per event, and a Struct is built in
~0.2 us against ~2 us. Building does not check types (mypy-strict code builds them); decoding
does, ranges and literals included (:func:`processors.events.decode_model`).
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from processors.engine import ids
from processors.engine.state import EpochMillis, Int32, Int64
from processors.events import CONTENT_TYPE_AVRO, HEADER_CONTENT_TYPE, decode_model, encode_model

STEP_COMMAND: Final = "agentflow.internal.StepCommand"
AUDIT_RECORD: Final = "agentflow.internal.AuditRecord"
WORKFLOW_NOTICE: Final = "agentflow.internal.WorkflowNotice"

DecisionKind = Literal[
    "applied", "retried", "held", "rejected", "expired", "duplicate", "ignored", "counted"
]
"""What a decision did with its event:

* ``applied`` — a transition was taken;
* ``retried`` — a transient step failure re-issued the step (no transition);
* ``held`` — the event arrived too early and is kept in the workflow's state;
* ``rejected`` — refused with a reason code (and quarantined, except duplicates);
* ``expired`` — a held event's deadline passed (quarantined);
* ``duplicate`` — the event id was already decided: nothing changes, nothing is emitted but
  this audit record;
* ``ignored`` — a late answer to a step call the workflow itself closed (cancelled on
  leaving the state that issued it, or superseded by a retry): it is recorded (its id joins
  the dedup set) and changes nothing else. Not quarantined: quarantine is for bad input, and
  this is an answer the workflow asked for.
"""


class _Record(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    # Not tracked by the cyclic garbage collector (gc=False): a record holds only scalars,
    # strings, and tuples and dicts of them or of other records, so it cannot be in a cycle.
    pass


class StepCommand(_Record, kw_only=True, frozen=True):
    """A command for a step worker. ``command_id`` is the idempotency key the worker echoes in
    ``step.completed``/``step.failed``; ``input`` is a scoped view of the causing event and
    the workflow (``event.*``, ``context.*``, ``result.<step>``, ``state``)."""

    command_id: str
    workflow_id: str
    tenant: str
    definition_name: str
    definition_version: Int32
    step: str
    attempt: Int32
    causation_id: str
    issued_at: EpochMillis
    input: dict[str, str]

    def encode(self) -> bytes:
        return encode_model(STEP_COMMAND, self)

    @property
    def step_id(self) -> str:
        """The step's logical id, the same on every attempt (side effects are keyed on it)."""
        return ids.step_id(self.causation_id, self.step)

    def headers(self) -> tuple[tuple[str, bytes], ...]:
        """The routing fields as Kafka headers, so a step worker in any language can answer a
        command without decoding its Avro body (which it needs only for ``input``)."""
        return (
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
            ("af-command-id", self.command_id.encode()),
            ("af-step", self.step.encode()),
            ("af-attempt", str(self.attempt).encode()),
            ("af-workflow-id", self.workflow_id.encode()),
            ("af-tenant", self.tenant.encode()),
            ("af-causation-id", self.causation_id.encode()),
            ("af-step-id", self.step_id.encode()),
        )


class AuditTransition(_Record, kw_only=True, frozen=True):
    trigger: str
    from_state: str | None = None
    to_state: str
    step: str | None = None


class AuditChange(_Record, kw_only=True, frozen=True):
    """One field a reviewer changed."""

    field: str
    old_value: str | None = None
    new_value: str | None = None


class AuditApproval(_Record, kw_only=True, frozen=True):
    """The approval an answer decided on: the proposal as shown, and the reviewer's changes
    (the approved version is the proposal with them)."""

    approval_id: str
    proposal: dict[str, str] = msgspec.field(default_factory=dict)
    changes: tuple[AuditChange, ...] = ()
    proposal_hash: str | None = None


class AuditUsage(_Record, kw_only=True, frozen=True):
    """What a step result says its step cost (``step.completed`` v2's ``usage``), as audited."""

    model: str
    input_tokens: Int64
    output_tokens: Int64
    requests: Int32
    cost_usd: str | None = None


class AuditRecord(_Record, kw_only=True, frozen=True):
    """One per decision; complete and deterministic so a replay can diff them."""

    audit_id: str
    workflow_id: str
    tenant: str | None = None
    definition_name: str | None = None
    definition_version: Int32 | None = None
    event_id: str
    event_type: str
    # v1's event_offset (where the event was read) is gone from v2: a replay reads the events
    # from another topic, and must reproduce every decision byte for byte.
    decision: DecisionKind
    status_before: str | None = None
    status_after: str | None = None
    transition: AuditTransition | None = None
    commands: tuple[str, ...] = ()
    emitted_ids: tuple[str, ...] = ()
    rejection_reason: str | None = None
    rejection_detail: str | None = None
    #: For a decision on a step result: what the step said it cost (v2).
    usage: AuditUsage | None = None
    #: For a decision on an approval answer: both versions of the proposal (v3).
    approval: AuditApproval | None = None
    decided_at: EpochMillis

    def encode(self) -> bytes:
        return encode_model(AUDIT_RECORD, self)

    @classmethod
    def decode(cls, data: bytes) -> AuditRecord:
        return decode_model(data, AUDIT_RECORD, cls)


NoticeKind = Literal["workflow.completed", "workflow.failed"]


class WorkflowNotice(_Record, kw_only=True, frozen=True):
    """Emitted to ``outputs`` when a workflow reaches a terminal state: ``workflow.failed``
    for the definition's failed state, ``workflow.completed`` for any other."""

    notice_id: str
    kind: NoticeKind
    workflow_id: str
    tenant: str
    definition_name: str
    definition_version: Int32
    status: str
    outcome: str
    causation_id: str
    emitted_at: EpochMillis

    def encode(self) -> bytes:
        return encode_model(WORKFLOW_NOTICE, self)


def decode_step_command(data: bytes) -> StepCommand:
    """Decode a record of role ``steps``."""
    return decode_model(data, STEP_COMMAND, StepCommand)


def decode_notice(data: bytes) -> WorkflowNotice:
    """Decode a :class:`WorkflowNotice` record of role ``outputs``."""
    return decode_model(data, WORKFLOW_NOTICE, WorkflowNotice)
