"""Durable per-workflow state (table ``workflows``) and its table codec.

The types are msgspec Structs, stored as msgpack maps behind a format version byte
(:class:`WorkflowStateCodec`): decoding and encoding a state costs a few microseconds, against
~60 us for Avro + pydantic. Map-encoded, so a field can be added with a default and older
records still decode. The shape stays written down in ``avro_schemas/internal/
workflow_state*.avsc``: a unit test holds these Structs to the latest schema field by field,
and a state written as Avro (before format 1) still decodes through it.

Lists are bounded (see the ``MAX_*`` constants) so a long-running workflow's record stays
small: the full story is in the event log and the audit topic, not here.

The engine edits a state only when the caller hands it over (a host's state view returns
private copies); otherwise it copies first, so a state it was merely given never changes.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, TypeVar

import msgspec

from processors import reasons
from processors.events import EventDecodeError, decode_record
from processors.events.common import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    AvroLogicalType,
)

WORKFLOW_STATE: Final = "agentflow.internal.WorkflowState"
T = TypeVar("T")

# Every read and write of a state costs in proportion to these lists, so a long-running
# workflow must not grow its record for ever: the event log and the audit topic hold the full
# story. The dedup window stays wide.
MAX_SEEN_EVENT_IDS: Final = 256
MAX_HISTORY: Final = 16
MAX_ERRORS: Final = 8
MAX_STEP_CALLS: Final = 16
MAX_COMPLETED_STEPS: Final = 32
MAX_HELD: Final = 64

Int32 = Annotated[int, msgspec.Meta(ge=INT32_MIN, le=INT32_MAX)]
Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
#: Epoch milliseconds (Avro ``timestamp-millis`` in the schema).
EpochMillis = Annotated[Int64, AvroLogicalType("timestamp-millis")]


class _Struct(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    # Mutable: the engine edits a copy while deciding. Defaults are left out of the encoding
    # (smaller records); decoding puts them back. Not tracked by the cyclic garbage collector
    # (gc=False): a state holds only scalars, strings, and tuples and dicts of them or of other
    # state parts, so it can never be part of a reference cycle, and a worker's cache holds
    # tens of thousands of states that the collector would otherwise walk again and again.
    # Sequences are tuples, not lists, for the same reason: CPython tracks every list, and
    # untracks a tuple of untracked items.
    pass


def appended(items: tuple[T, ...], item: T, limit: int) -> tuple[T, ...]:
    """``items`` with ``item`` at the end, keeping the last ``limit`` (a bounded list)."""
    return (*items[max(0, len(items) + 1 - limit) :], item)


def as_plain(value: msgspec.Struct) -> dict[str, Any]:
    """A state part as plain JSON-ready data, every field included (for views and the
    approvals read model)."""
    return {f: _plain(getattr(value, f)) for f in value.__struct_fields__}


def _plain(value: Any) -> Any:
    if isinstance(value, msgspec.Struct):
        return as_plain(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class CallUsage(_Struct, kw_only=True):
    """What a completed model step cost (``step.completed`` v2's ``usage``)."""

    model: str
    input_tokens: Int64
    output_tokens: Int64
    requests: Int32
    cost_usd: str | None = None


class CallTool(_Struct, kw_only=True):
    """One tool call a completed step made (``step.completed`` v2's ``tool_calls``)."""

    tool: str
    impact: str
    status: str
    idempotency_key: str | None = None
    error_type: str | None = None


class WorkflowUsage(_Struct, kw_only=True):
    """Totals over the workflow's model step results (completed, failed and late ones: their
    tokens were spent), each result counted once; ``model_steps`` counts those results."""

    model_steps: Int32 = 0
    requests: Int32 = 0
    input_tokens: Int64 = 0
    output_tokens: Int64 = 0
    cost_usd: str | None = None


class StepCall(_Struct, kw_only=True):
    """A step command the engine issued. ``status``: open, completed, failed, retried (a newer
    attempt replaced it) or cancelled (the workflow left the state that issued it).

    ``input`` is kept while the call is open, for retries, and holds only the causing event's
    part of the command's input (``state``, ``event.*``); a retry adds the workflow's context
    and results as they are then, as the first attempt did."""

    command_id: str
    step: str
    attempt: Int32
    causation_id: str
    issued_at: EpochMillis
    status: str
    input: dict[str, str] = msgspec.field(default_factory=dict)
    usage: CallUsage | None = None
    tool_calls: tuple[CallTool, ...] = ()


class PendingApproval(_Struct, kw_only=True):
    """An approval the workflow waits for; ``approval.granted/denied`` must name it."""

    approval_id: str
    step: str
    state: str
    required_role: str
    requested_at: EpochMillis
    due_at: EpochMillis | None = None
    causation_id: str
    #: sha256 of the proposal shown to reviewers (:func:`processors.steps.proposal_hash`);
    #: an answer that names another is refused as ``stale_approval``.
    proposal_hash: str | None = None
    #: Who may not decide it (``self_approval``): the workflow's starter and the actor of the
    #: event that led to the request.
    requested_by: tuple[str, ...] = ()
    #: Distinct approvers needed; the grants so far, and the edits the first one made (as
    #: canonical JSON), which every later approver must grant unchanged.
    quorum: Int32 = 1
    granted_by: tuple[str, ...] = ()
    granted_changes: str | None = None
    #: What the reviewer is shown and may edit, and the line that sums it up.
    proposal: dict[str, str] = msgspec.field(default_factory=dict)
    summary: str = ""


class WorkflowTimer(_Struct, kw_only=True):
    """An armed deadline; indexed in table ``timers`` by due time."""

    timer_id: str
    name: str
    state: str
    due_at: EpochMillis
    subject_id: str | None = None
    causation_id: str


class HeldHeader(_Struct, kw_only=True):
    key: str
    value: bytes | None = None


class HeldEvent(_Struct, kw_only=True):
    """An event that arrived before the workflow could take it, kept byte-exact."""

    event_id: str
    event_type: str
    tenant: str
    offset: Int64
    held_at: EpochMillis
    expires_at: EpochMillis
    event: bytes
    headers: tuple[HeldHeader, ...] = ()


class StepError(_Struct, kw_only=True):
    event_id: str
    step: str
    attempt: Int32
    error_class: str
    message: str
    at: EpochMillis


class HistoryEntry(_Struct, kw_only=True):
    """One transition taken. ``from_state`` is None for the start transition."""

    event_id: str
    event_type: str
    trigger: str
    from_state: str | None = None
    to_state: str
    step: str | None = None
    at: EpochMillis


class WorkflowState(_Struct, kw_only=True):
    """Everything the engine keeps about one workflow id.

    ``status`` (and the definition fields) are None while the slot only holds events waiting
    for the workflow's start event.
    """

    workflow_id: str
    definition_name: str | None = None
    definition_version: Int32 | None = None
    tenant: str | None = None
    status: str | None = None
    started_at: EpochMillis | None = None
    #: The actor whose event started the workflow (never its approver); None before v3.
    started_by: str | None = None
    updated_at: EpochMillis
    last_event_id: str | None = None
    #: No longer written (-1): a decision must not depend on the offset an event was read at.
    last_offset: Int64 = -1
    context: dict[str, str] = msgspec.field(default_factory=dict)
    completed_steps: tuple[str, ...] = ()
    step_results: dict[str, str] = msgspec.field(default_factory=dict)
    step_calls: tuple[StepCall, ...] = ()
    retries: dict[str, Int32] = msgspec.field(default_factory=dict)
    pending_approvals: tuple[PendingApproval, ...] = ()
    timers: tuple[WorkflowTimer, ...] = ()
    held: tuple[HeldEvent, ...] = ()
    errors: tuple[StepError, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    seen_event_ids: tuple[str, ...] = ()
    final_outcome: str | None = None
    completed_at: EpochMillis | None = None
    usage: WorkflowUsage = msgspec.field(default_factory=WorkflowUsage)

    @property
    def started(self) -> bool:
        """True once the start event was applied."""
        return self.status is not None

    def clone(self) -> WorkflowState:
        """A deep copy, for the engine to edit (a msgpack round trip: ~5 us)."""
        return _DECODER.decode(_ENCODER.encode(self))

    def open_call(self, command_id: str) -> StepCall | None:
        """The open step call with ``command_id``, or None."""
        return next(
            (c for c in self.step_calls if c.command_id == command_id and c.status == "open"),
            None,
        )


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(WorkflowState)

#: The first byte of a stored state: the format. 1 is a msgpack map. An Avro single-object
#: record (a state written before format 1) starts with 0xC3, its marker.
FORMAT_MSGPACK: Final = 1
_AVRO_MARKER: Final = 0xC3
_FORMAT_PREFIX: Final = bytes([FORMAT_MSGPACK])


class WorkflowStateCodec:
    """Table codec of ``workflows``: a format byte, then the state as a msgpack map.

    A value written before format 1 (Avro single-object, any version of the schema) decodes
    too, so a store or changelog from an older worker needs no migration step.
    """

    def encode(self, value: WorkflowState) -> bytes:
        return _FORMAT_PREFIX + _ENCODER.encode(value)

    def decode(self, data: bytes) -> WorkflowState:
        head = data[0] if data else None
        if head == FORMAT_MSGPACK:
            try:
                return _DECODER.decode(memoryview(data)[1:])
            except msgspec.ValidationError as exc:
                raise ValueError(f"invalid workflow state: {exc}") from None
        if head == _AVRO_MARKER:
            return _from_avro(data)
        raise ValueError(f"unknown workflow state format {head!r}")

    def copy(self, value: WorkflowState) -> WorkflowState:
        return value.clone()


def _from_avro(data: bytes) -> WorkflowState:
    name, datum = decode_record(data)
    if name != WORKFLOW_STATE:
        raise EventDecodeError(reasons.UNKNOWN_SCHEMA, f"expected {WORKFLOW_STATE}, got {name}")
    return msgspec.convert(datum, WorkflowState)
