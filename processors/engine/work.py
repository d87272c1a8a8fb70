"""The scratchpad of one decision: the state it edits plus everything emitted so far.

:class:`Work` collects commands, outputs and timer index changes while the engine edits its
private copy of the state, then :meth:`Work.finish` turns it into an immutable
:class:`~processors.engine.decision.Decision` with its audit record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.engine import ids
from processors.engine.decision import Decision, Output, Rejection, TimerRef
from processors.engine.records import (
    AuditApproval,
    AuditRecord,
    AuditTransition,
    AuditUsage,
    DecisionKind,
    StepCommand,
    WorkflowNotice,
)
from processors.engine.state import MAX_SEEN_EVENT_IDS, HeldEvent, WorkflowState, appended
from processors.events import Envelope, StepCompletedPayloadV2, StepFailedPayloadV2
from workflows import WorkflowDefinition


@dataclass
class Work:
    """Mutable while one event is decided; never shared between decisions."""

    state: WorkflowState
    event: Envelope
    offset: int
    now_ms: int
    definition: WorkflowDefinition | None = None
    status_before: str | None = None
    commands: list[StepCommand] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    armed: list[TimerRef] = field(default_factory=list)
    disarmed: list[TimerRef] = field(default_factory=list)
    transition: AuditTransition | None = None
    held: HeldEvent | None = None
    #: The approval the event answers, as its audit record shows it.
    approval: AuditApproval | None = None

    @staticmethod
    def begin(state: WorkflowState | None, event: Envelope, offset: int, now_ms: int) -> Work:
        """Start deciding ``event`` on ``state``, which this decision now owns and edits (the
        caller passes a copy if it keeps the original); a fresh slot if None."""
        if state is not None and state.workflow_id != event.workflow_id:
            raise ValueError(
                f"state of {state.workflow_id!r} given for an event of {event.workflow_id!r}"
            )
        if state is None:
            state = WorkflowState(workflow_id=event.workflow_id, updated_at=now_ms)
        return Work(state, event, offset, now_ms, status_before=state.status)

    def remember(self) -> None:
        """Record the event as decided: dedup set and last event id (not its offset, which a
        replay of another topic would not reproduce)."""
        seen = self.state.seen_event_ids
        if self.event.event_id not in seen:
            self.state.seen_event_ids = appended(seen, self.event.event_id, MAX_SEEN_EVENT_IDS)
        self.state.last_event_id = self.event.event_id
        self.state.updated_at = self.now_ms

    def finish(
        self,
        kind: DecisionKind,
        rejection: Rejection | None = None,
        *,
        write: bool = True,
        keep_id: bool = True,
    ) -> Decision:
        """The decision, with its one audit record. ``write=False`` leaves the state alone;
        ``keep_id=False`` writes it but keeps the event id out of the dedup set (for events
        whose tenant is not, or not yet known to be, the workflow's)."""
        if write:
            if keep_id:
                self.remember()
            else:
                self.state.updated_at = self.now_ms
        if self.held is not None:
            self.disarmed.append(
                TimerRef(
                    self.held.expires_at,
                    self.state.workflow_id,
                    self.held.event_id,
                    "hold",
                    self.held.event_type,
                )
            )
        emitted = [c.command_id for c in self.commands]
        emitted += [
            o.notice_id if isinstance(o, WorkflowNotice) else o.event_id for o in self.outputs
        ]
        st = self.state
        audit = AuditRecord(
            audit_id=ids.audit_id(self.event.event_id, kind, self.now_ms),
            workflow_id=st.workflow_id,
            tenant=st.tenant,
            definition_name=st.definition_name,
            definition_version=st.definition_version,
            event_id=self.event.event_id,
            event_type=self.event.event_type,
            decision=kind,
            status_before=self.status_before,
            status_after=st.status,
            transition=self.transition,
            commands=tuple(c.command_id for c in self.commands),
            emitted_ids=tuple(emitted),
            rejection_reason=rejection.reason if rejection else None,
            rejection_detail=rejection.detail if rejection else None,
            usage=_result_usage(self.event),
            approval=self.approval,
            decided_at=self.now_ms,
        )
        return Decision(
            kind=kind,
            event=self.event,
            offset=self.offset,
            state=st if write else None,
            audit=audit,
            commands=tuple(self.commands),
            outputs=tuple(self.outputs),
            rejection=rejection,
            armed=tuple(self.armed),
            disarmed=tuple(self.disarmed),
            held=self.held,
        )


def _result_usage(event: Envelope) -> AuditUsage | None:
    """What a step result (v2) says its step cost; None for any other event."""
    payload = getattr(event, "payload", None)  # Envelope itself declares no payload
    if isinstance(payload, StepCompletedPayloadV2 | StepFailedPayloadV2) and payload.usage:
        return AuditUsage(**payload.usage.model_dump())
    return None
