"""Durable per-workflow state (table ``workflows``) and its Avro table codec.

The models mirror ``avro_schemas/internal/workflow_state.avsc`` field for field (a unit test
keeps them equal). Lists are bounded (see the ``MAX_*`` constants) so a long-running workflow's
record stays small: the full story is in the event log and the audit topic, not here.

The engine edits a state only when the caller hands it over (a host's state view returns
private copies); otherwise it deep-copies first, so a state it was merely given never changes.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from processors.events import EpochMillis, Int32, Int64, decode_model, encode_model

WORKFLOW_STATE: Final = "agentflow.internal.WorkflowState"

# Every read and write of a state costs in proportion to these lists (fastavro, ~2-3 us per
# history entry each way), so a long-running workflow must not grow its record for ever:
# the event log and the audit topic hold the full story. The dedup window stays wide.
MAX_SEEN_EVENT_IDS: Final = 256
MAX_HISTORY: Final = 16
MAX_ERRORS: Final = 8
MAX_STEP_CALLS: Final = 16
MAX_COMPLETED_STEPS: Final = 32
MAX_HELD: Final = 64


class _Model(BaseModel):
    # Not frozen: the engine edits a deep copy while deciding. Unknown fields are refused so a
    # model and its Avro schema cannot drift apart silently.
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class CallUsage(_Model):
    """What a completed model step cost (``step.completed`` v2's ``usage``)."""

    model: str
    input_tokens: Int64
    output_tokens: Int64
    requests: Int32
    cost_usd: str | None = None


class CallTool(_Model):
    """One tool call a completed step made (``step.completed`` v2's ``tool_calls``)."""

    tool: str
    impact: str
    status: str
    idempotency_key: str | None = None
    error_type: str | None = None


class WorkflowUsage(_Model):
    """Totals over the workflow's model step results (completed, failed and late ones: their
    tokens were spent), each result counted once; ``model_steps`` counts those results."""

    model_steps: Int32 = 0
    requests: Int32 = 0
    input_tokens: Int64 = 0
    output_tokens: Int64 = 0
    cost_usd: str | None = None


class StepCall(_Model):
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
    input: dict[str, str] = Field(default_factory=dict)
    usage: CallUsage | None = None
    tool_calls: list[CallTool] = Field(default_factory=list)


class PendingApproval(_Model):
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
    requested_by: list[str] = Field(default_factory=list)
    #: Distinct approvers needed; the grants so far, and the edits the first one made (as
    #: canonical JSON), which every later approver must grant unchanged.
    quorum: Int32 = 1
    granted_by: list[str] = Field(default_factory=list)
    granted_changes: str | None = None
    #: What the reviewer is shown and may edit, and the line that sums it up.
    proposal: dict[str, str] = Field(default_factory=dict)
    summary: str = ""


class WorkflowTimer(_Model):
    """An armed deadline; indexed in table ``timers`` by due time."""

    timer_id: str
    name: str
    state: str
    due_at: EpochMillis
    subject_id: str | None = None
    causation_id: str


class HeldHeader(_Model):
    key: str
    value: bytes | None = None


class HeldEvent(_Model):
    """An event that arrived before the workflow could take it, kept byte-exact."""

    event_id: str
    event_type: str
    tenant: str
    offset: Int64
    held_at: EpochMillis
    expires_at: EpochMillis
    event: bytes
    headers: list[HeldHeader] = Field(default_factory=list)


class StepError(_Model):
    event_id: str
    step: str
    attempt: Int32
    error_class: str
    message: str
    at: EpochMillis


class HistoryEntry(_Model):
    """One transition taken. ``from_state`` is None for the start transition."""

    event_id: str
    event_type: str
    trigger: str
    from_state: str | None = None
    to_state: str
    step: str | None = None
    at: EpochMillis


class WorkflowState(_Model):
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
    context: dict[str, str] = Field(default_factory=dict)
    completed_steps: list[str] = Field(default_factory=list)
    step_results: dict[str, str] = Field(default_factory=dict)
    step_calls: list[StepCall] = Field(default_factory=list)
    retries: dict[str, Int32] = Field(default_factory=dict)
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    timers: list[WorkflowTimer] = Field(default_factory=list)
    held: list[HeldEvent] = Field(default_factory=list)
    errors: list[StepError] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    seen_event_ids: list[str] = Field(default_factory=list)
    final_outcome: str | None = None
    completed_at: EpochMillis | None = None
    usage: WorkflowUsage = Field(default_factory=WorkflowUsage)

    @property
    def started(self) -> bool:
        """True once the start event was applied."""
        return self.status is not None

    def clone(self) -> WorkflowState:
        """A deep copy, for the engine to edit. Dumping and validating again runs in
        pydantic-core, 3-4x faster than ``model_copy(deep=True)`` (Python's ``deepcopy``)."""
        return type(self).model_validate(self.model_dump())

    def open_call(self, command_id: str) -> StepCall | None:
        """The open step call with ``command_id``, or None."""
        return next(
            (c for c in self.step_calls if c.command_id == command_id and c.status == "open"),
            None,
        )


class WorkflowStateCodec:
    """Table codec of ``workflows``: Avro single-object encoding of :class:`WorkflowState`."""

    def encode(self, value: WorkflowState) -> bytes:
        return encode_model(WORKFLOW_STATE, value)

    def decode(self, data: bytes) -> WorkflowState:
        return decode_model(data, WORKFLOW_STATE, WorkflowState)

    def copy(self, value: WorkflowState) -> WorkflowState:
        return value.clone()
