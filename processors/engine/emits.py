"""From decisions to a processor ``Result``: table writes and records, by role.

Per decision, in order: step commands (``steps``), output events and notices (``outputs``), a
quarantine record if the event was refused or expired (``quarantine``), then the audit record
(``audit``) that names all of them. Every record is keyed by ``workflow_id`` except quarantine
records, which keep the original key. Each workflow's state is written once, with its last
value; timer index entries are put or deleted, the last change of a key winning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from processors.contract import Context, Delete, Emit, Headers, Put, Record, Result
from processors.engine.decision import Decision, TimerRef
from processors.engine.inbox import inbox_writes, pending_snapshot
from processors.engine.records import WorkflowNotice
from processors.engine.state import HeldEvent, WorkflowState
from processors.events import encode
from processors.quarantine import quarantine_emit
from processors.roles import AUDIT_ROLE, EVENTS_ROLE, OUTPUTS_ROLE, STEPS_ROLE

WORKFLOWS: Final = "workflows"
TIMERS: Final = "timers"

#: ``quarantined_by`` (and ``af-quarantined-by``) of the quarantine records the engine writes.
ENGINE_VERSION: Final = "orchestrator/1"


def held_record(held: HeldEvent, workflow_id: str, partition: int) -> Record:
    """The held event as the ``events`` record it stands for (Avro value, kept headers)."""
    headers: Headers = tuple((h.key, h.value) for h in held.headers)
    return Record(EVENTS_ROLE, partition, held.offset, workflow_id.encode(), held.event, headers)


@dataclass
class ResultBuilder:
    """Collects decisions (and extra emits) into one :class:`~processors.contract.Result`."""

    ctx: Context
    emits: list[Emit] = field(default_factory=list)
    states: dict[str, WorkflowState] = field(default_factory=dict)
    timers: dict[bytes, Put | Delete] = field(default_factory=dict)
    #: Each workflow's pending approvals before its decisions (see ``inbox``).
    approvals_before: dict[str, tuple[str | None, dict[str, bytes]]] = field(default_factory=dict)

    def note(self, workflow_id: str, state: WorkflowState | None) -> None:
        """Remember ``state``'s pending approvals before the engine decides on it."""
        if workflow_id not in self.approvals_before:
            tenant = state.tenant if state is not None else None
            self.approvals_before[workflow_id] = (tenant, pending_snapshot(state))

    def add(self, decisions: tuple[Decision, ...], record: Record | None) -> None:
        """Add ``decisions``; ``record`` is the input record the first of them decided (None
        for engine-made events, which are quarantined in their encoded form)."""
        for d in decisions:
            key = d.workflow_id.encode()
            if d.state is not None:
                self.states[d.workflow_id] = d.state
            for ref in d.armed:
                self.timers[ref.key] = Put(TIMERS, ref.key, ref)
            for ref in d.disarmed:
                self.timers[ref.key] = Delete(TIMERS, ref.key)
            self.emits.extend(Emit(STEPS_ROLE, key, c.encode(), c.headers()) for c in d.commands)
            for out in d.outputs:
                value = out.encode() if isinstance(out, WorkflowNotice) else encode(out)
                self.emits.append(Emit(OUTPUTS_ROLE, key, value))
            if d.rejection is not None:
                self.emits.append(
                    quarantine_emit(
                        self._source(d, record),
                        d.rejection.reason,
                        d.rejection.detail,
                        self.ctx,
                        ENGINE_VERSION,
                        d.event.event_id,
                        d.event.tenant,
                    )
                )
            self.emits.append(Emit(AUDIT_ROLE, key, d.audit.encode(), tag=d.audit.decision))

    def drop_timer(self, ref: TimerRef) -> None:
        """Delete a due index entry (whatever the decisions about it say)."""
        self.timers.setdefault(ref.key, Delete(TIMERS, ref.key))

    def emit(self, emit: Emit) -> None:
        self.emits.append(emit)

    def result(self) -> Result:
        writes: list[Put | Delete] = [
            Put(WORKFLOWS, wf.encode(), st) for wf, st in self.states.items()
        ]
        writes.extend(self.timers.values())
        for wf, st in self.states.items():
            tenant, before = self.approvals_before.get(wf, (None, {}))
            if before or st.pending_approvals:
                writes.extend(inbox_writes(st.tenant or tenant, before, st))
        return Result(emits=tuple(self.emits), writes=tuple(writes))

    def _source(self, d: Decision, record: Record | None) -> Record:
        if d.held is not None:
            return held_record(d.held, d.workflow_id, self.ctx.partition)
        if record is not None:
            return record
        value = encode(d.event)
        return Record(EVENTS_ROLE, self.ctx.partition, d.offset, d.workflow_id.encode(), value)
