"""The orchestrator as a stream processor: events in; commands, outputs, audit and state out.

It reads role ``events`` (validated, Avro single-object encoded envelopes keyed by
``workflow_id``) and keeps two tables per partition:

* ``workflows`` — key ``workflow_id`` (UTF-8), value :class:`WorkflowState` (Avro);
* ``timers`` — key ``due_ms`` (8 bytes big-endian) + ``workflow_id`` + NUL + ``<kind>:<id>``,
  value :class:`TimerRef` (JSON): due deadlines and held-event expiries, so a punctuation
  range-scans ``[0, now]`` instead of every workflow.

All logic lives in :func:`~processors.engine.decide.decide`; this class only reads state,
decodes, and turns decisions into a ``Result``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from processors import reasons
from processors.contract import Context, Emit, Record, Result, StateView, TableSpec
from processors.engine.decide import process_event
from processors.engine.decision import Decision, TimerRef, due_upper_bound
from processors.engine.emits import ENGINE_VERSION, TIMERS, WORKFLOWS, ResultBuilder
from processors.engine.inbox import APPROVALS_TABLE
from processors.engine.state import WorkflowState, WorkflowStateCodec
from processors.engine.timers import (
    TimerRefCodec,
    expire_on,
    fire_timer,
    hold_expiry_event,
    is_hold_expiry,
)
from processors.events import (
    Envelope,
    EventDecodeError,
    TimerFiredV1,
    decided_at,
    decode,
    encode,
    workflow_event_headers,
)
from processors.quarantine import quarantine_emit
from processors.roles import (
    AUDIT_ROLE,
    EVENTS_ROLE,
    OUTPUTS_ROLE,
    QUARANTINE_ROLE,
    STEPS_ROLE,
)
from workflows import DefinitionRegistry


@dataclass
class OrchestratorProcessor:
    """Runs the registered workflow definitions. See the module docstring for its tables.

    ``max_timers_per_punctuation`` bounds one punctuation's work (and transaction); the rest
    fire on the next tick.
    """

    registry: DefinitionRegistry
    name: str = "orchestrator"
    input_roles: tuple[str, ...] = (EVENTS_ROLE,)
    output_roles: tuple[str, ...] = (
        STEPS_ROLE,
        OUTPUTS_ROLE,
        AUDIT_ROLE,
        QUARANTINE_ROLE,
        EVENTS_ROLE,
    )
    tables: tuple[TableSpec, ...] = (
        TableSpec(WORKFLOWS, WorkflowStateCodec()),
        TableSpec(TIMERS, TimerRefCodec()),
        APPROVALS_TABLE,
    )
    punctuate_interval_ms: int = 1000
    max_timers_per_punctuation: int = 1000

    def process(self, record: Record, state: StateView, ctx: Context) -> Result:
        """Decode an ``events`` record and :meth:`handle` it; undecodable ones are quarantined
        with the decoder's reason code (the gate should have stopped them)."""
        if record.value is None:
            return _refuse(record, reasons.UNDECODABLE, "null value", ctx)
        try:
            event = decode(record.value)
        except EventDecodeError as exc:
            return _refuse(record, exc.reason, exc.detail, ctx)
        return self.handle(event, record, state, ctx)

    def handle(self, event: Envelope, record: Record, state: StateView, ctx: Context) -> Result:
        """Decide an already decoded and validated ``event`` read as ``record``, at the time
        its ``af-decided-at`` header gives (the gate's admission time), else ``ctx.now_ms``.

        Deciding at the recorded time, and on nothing an offset or the wall clock would
        change, is what lets a replay of workflow-events reproduce every decision."""
        if record.key is not None and record.key != event.key:
            detail = f"record key {record.key[:200]!r} is not workflow_id {event.workflow_id!r}"
            return _refuse(record, reasons.KEY_MISMATCH, detail, ctx, event)
        now_ms = decided_at(record.headers) or ctx.now_ms
        current = state.get(WORKFLOWS, event.key)  # a private copy: the engine may edit it
        out = ResultBuilder(ctx)
        out.note(event.workflow_id, current)
        if is_hold_expiry(event):
            decisions = expire_on(current, event, now_ms)
        else:
            decisions = process_event(
                current,
                event,
                record.offset,
                self.registry,
                now_ms,
                headers=record.headers,
                handed_over=True,
            )
        out.add(decisions, record)
        return out.result()

    def punctuate(self, state: StateView, ctx: Context) -> Result:
        """Fire the deadlines and expire the held events due at ``ctx.now_ms``, in due order.

        A fired deadline's ``timer.fired`` event is also emitted to ``events``: the log is the
        history of record, and a replay reads the timeout from there.
        """
        out = ResultBuilder(ctx)
        states: dict[str, WorkflowState | None] = {}
        due = state.range(TIMERS, b"", due_upper_bound(ctx.now_ms))
        for _, ref in islice(due, self.max_timers_per_punctuation):
            if not isinstance(ref, TimerRef):  # pragma: no cover - the codec makes TimerRefs
                continue
            out.drop_timer(ref)
            wf = ref.workflow_id
            current = states[wf] if wf in states else state.get(WORKFLOWS, wf.encode())
            if current is None:
                continue
            out.note(wf, current)
            decisions = self._fire(current, ref, out, ctx)
            for d in decisions:
                if d.state is not None:
                    states[wf] = d.state
            out.add(decisions, None)
        return out.result()

    def _fire(
        self, current: WorkflowState, ref: TimerRef, out: ResultBuilder, ctx: Context
    ) -> tuple[Decision, ...]:
        """A due deadline or hold: its ``timer.fired`` event goes to ``events``, stamped with
        the time it is decided at, and is decided by the code a replay of it runs."""
        if ref.kind == "hold":
            event: TimerFiredV1 | None = hold_expiry_event(current, ref.timer_id)
            decisions = expire_on(current, event, ctx.now_ms) if event is not None else ()
        else:
            event, decisions = fire_timer(current, ref, self.registry, ctx.now_ms)
        if event is not None:
            out.emit(
                Emit(EVENTS_ROLE, event.key, encode(event), workflow_event_headers(ctx.now_ms))
            )
        return decisions


def _refuse(
    record: Record, reason: str, detail: str, ctx: Context, event: Envelope | None = None
) -> Result:
    emit = quarantine_emit(
        record,
        reason,
        detail,
        ctx,
        ENGINE_VERSION,
        event.event_id if event is not None else None,
        event.tenant if event is not None else None,
    )
    return Result(emits=(emit,))
