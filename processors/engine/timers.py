"""Durable timers: deadlines firing as ``timer.fired`` events, and held events expiring.

Both are indexed in the per-partition ``timers`` table (see
:class:`~processors.engine.decision.TimerRef`), so a punctuation looks at due entries only and
never scans every workflow. The index is a hint: the workflow state is the truth, and an index
entry whose timer or held event is gone (cancelled, fired, released) is simply dropped.
"""

from __future__ import annotations

import json
from typing import Any, Final, TypeGuard

import msgspec

from processors import reasons
from processors.engine import ids
from processors.engine.apply import ENGINE_ACTOR, ENGINE_SOURCE
from processors.engine.decide import process_event
from processors.engine.decision import (
    Decision,
    Rejection,
    TimerRef,
)
from processors.engine.state import MAX_SEEN_EVENT_IDS, WorkflowState, appended
from processors.engine.work import Work
from processors.events import Envelope, TimerFiredPayloadV1, TimerFiredV1, decode
from workflows import DefinitionRegistry

#: ``timer.fired``'s kind (and the ``timers`` index kind) of a held event's expiry.
HOLD = "hold"


#: The format byte of a ``timers`` value: a msgpack map follows (as in the workflows table).
TIMER_FORMAT_MSGPACK: Final = 1
_TIMER_PREFIX: Final = bytes([TIMER_FORMAT_MSGPACK])
_TIMER_ENCODER: Final = msgspec.msgpack.Encoder()
_TIMER_DECODER: Final = msgspec.msgpack.Decoder(TimerRef)


class TimerRefCodec:
    """Table codec of ``timers``: a format byte, then the :class:`TimerRef` as a msgpack map.

    A value written before the format byte existed (compact JSON, which starts with ``{``)
    decodes too, so a store or changelog from an older worker needs no migration step.
    """

    def encode(self, value: TimerRef) -> bytes:
        return _TIMER_PREFIX + _TIMER_ENCODER.encode(value)

    def decode(self, data: bytes) -> TimerRef:
        head = data[0] if data else None
        if head == TIMER_FORMAT_MSGPACK:
            try:
                return _TIMER_DECODER.decode(memoryview(data)[1:])
            except msgspec.ValidationError as exc:
                raise ValueError(f"invalid timer index entry: {exc}") from None
        if head == ord("{"):
            doc: Any = json.loads(data)
            return TimerRef.from_json(doc)
        raise ValueError(f"unknown timer index format {head!r}")


def timer_event(state: WorkflowState, ref: TimerRef) -> TimerFiredV1 | None:
    """The ``timer.fired`` event of deadline ``ref``, or None if it is no longer armed.

    Its id derives from workflow id, deadline name and due time; ``occurred_at`` is the due
    time, not the firing time, so the event is the same however late the punctuation runs.
    """
    timer = next((t for t in state.timers if t.timer_id == ref.timer_id), None)
    if timer is None or state.tenant is None:
        return None
    return TimerFiredV1(
        event_id=ids.timer_event_id(state.workflow_id, timer.name, timer.due_at),
        occurred_at=timer.due_at,
        source=ENGINE_SOURCE,
        tenant=state.tenant,
        actor=ENGINE_ACTOR,
        workflow_id=state.workflow_id,
        causation_id=timer.causation_id,
        payload=TimerFiredPayloadV1(
            timer_id=timer.timer_id,
            kind=timer.name,
            due_at=timer.due_at,
            subject_id=timer.subject_id,
        ),
    )


def fire_timer(
    state: WorkflowState, ref: TimerRef, registry: DefinitionRegistry, now_ms: int
) -> tuple[TimerFiredV1 | None, tuple[Decision, ...]]:
    """Fire deadline ``ref``: its event (None if not armed) and the decisions it caused.

    The event goes through :func:`~processors.engine.decide.process_event` like any other,
    at offset -1 (it was not read from the input).
    """
    event = timer_event(state, ref)
    if event is None:
        return None, ()
    return event, process_event(state, event, -1, registry, now_ms)


def hold_expiry_event(state: WorkflowState, held_event_id: str) -> TimerFiredV1 | None:
    """The ``timer.fired`` (kind ``hold``) that expires held event ``held_event_id``, or None
    if it is no longer held. Like a deadline's, it goes to workflow-events, so a replay reads
    the expiry from the log instead of deciding it by its own clock."""
    held = next((h for h in state.held if h.event_id == held_event_id), None)
    if held is None:
        return None
    return TimerFiredV1(
        event_id=ids.hold_expiry_event_id(held.event_id, held.expires_at),
        occurred_at=held.expires_at,
        source=ENGINE_SOURCE,
        tenant=state.tenant or held.tenant,
        actor=ENGINE_ACTOR,
        workflow_id=state.workflow_id,
        causation_id=held.event_id,
        payload=TimerFiredPayloadV1(
            timer_id=held.event_id, kind=HOLD, due_at=held.expires_at, subject_id=held.event_id
        ),
    )


def is_hold_expiry(event: Envelope) -> TypeGuard[TimerFiredV1]:
    """True for the engine's ``timer.fired`` that expires a held event."""
    return isinstance(event, TimerFiredV1) and event.payload.kind == HOLD


def expire_on(
    state: WorkflowState | None, event: TimerFiredV1, now_ms: int
) -> tuple[Decision, ...]:
    """Decide hold expiry ``event``: the held event it names is ``expired``, with reason
    ``orphan_event`` (the workflow never started) or ``prerequisite_timeout``. The same code
    decides it live (at the punctuation) and in a replay (read from workflow-events). An expiry
    whose event is no longer held (read again by an orchestrator on workflow-events) changes
    nothing: ``duplicate`` if the workflow remembers it, else ``ignored``."""
    held_id = event.payload.subject_id
    held = next((h for h in state.held if h.event_id == held_id), None) if state else None
    if state is None or held is None:
        seen = state is not None and event.event_id in state.seen_event_ids
        work = Work.begin(state.clone() if state else None, event, -1, now_ms)
        return (work.finish("duplicate" if seen else "ignored", write=False),)
    work = Work.begin(state.clone(), decode(held.event), held.offset, now_ms)
    work.held = held
    work.state.held = tuple(h for h in work.state.held if h.event_id != held_id)
    if work.state.started:
        reason = reasons.PREREQUISITE_TIMEOUT
        detail = f"{held.event_type} was not accepted by state {work.state.status!r} in time"
        work.state.seen_event_ids = appended(  # the expiry itself, once
            work.state.seen_event_ids, event.event_id, MAX_SEEN_EVENT_IDS
        )
    else:
        reason = reasons.ORPHAN_EVENT
        detail = f"{held.event_type} arrived for a workflow that never started"
    detail += f" (held at {held.held_at}, expired at {held.expires_at})"
    return (work.finish("expired", Rejection(reason, detail), keep_id=work.state.started),)
