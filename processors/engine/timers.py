"""Durable timers: deadlines firing as ``timer.fired`` events, and held events expiring.

Both are indexed in the per-partition ``timers`` table (see
:class:`~processors.engine.decision.TimerRef`), so a punctuation looks at due entries only and
never scans every workflow. The index is a hint: the workflow state is the truth, and an index
entry whose timer or held event is gone (cancelled, fired, released) is simply dropped.
"""

from __future__ import annotations

import json
from typing import Any

from processors import reasons
from processors.engine import ids
from processors.engine.apply import ENGINE_ACTOR, ENGINE_SOURCE
from processors.engine.decide import process_event
from processors.engine.decision import (
    Decision,
    Rejection,
    TimerRef,
)
from processors.engine.state import WorkflowState
from processors.engine.work import Work
from processors.events import TimerFiredPayloadV1, TimerFiredV1, decode
from workflows import DefinitionRegistry


class TimerRefCodec:
    """Table codec of ``timers``: a :class:`TimerRef` as compact, sorted JSON."""

    def encode(self, value: TimerRef) -> bytes:
        return json.dumps(value.to_json(), separators=(",", ":"), sort_keys=True).encode()

    def decode(self, data: bytes) -> TimerRef:
        doc: Any = json.loads(data)
        if not isinstance(doc, dict):
            raise ValueError("a timer index entry is a JSON object")
        return TimerRef.from_json(doc)


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


def expire_held(state: WorkflowState, event_id: str, now_ms: int) -> Decision | None:
    """Expire held event ``event_id``: an ``expired`` decision with reason ``orphan_event``
    (the workflow never started) or ``prerequisite_timeout``; None if it is not held."""
    held = next((h for h in state.held if h.event_id == event_id), None)
    if held is None:
        return None
    work = Work.begin(state.clone(), decode(held.event), held.offset, now_ms)
    work.held = held
    work.state.held = [h for h in work.state.held if h.event_id != event_id]
    if work.state.started:
        reason = reasons.PREREQUISITE_TIMEOUT
        detail = f"{held.event_type} was not accepted by state {work.state.status!r} in time"
    else:
        reason = reasons.ORPHAN_EVENT
        detail = f"{held.event_type} arrived for a workflow that never started"
    detail += f" (held at {held.held_at}, expired at {held.expires_at})"
    return work.finish("expired", Rejection(reason, detail), keep_id=work.state.started)
