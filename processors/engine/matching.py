"""From an event to the trigger strings it answers to, and to the text a step sees.

``step.completed`` answers to ``step.completed:<step>:<outcome>`` and ``step.completed:<step>``
(validation forbids a state from using both forms for one step, so at most one matches);
``step.failed`` to ``step.failed:<step>``; ``timer.fired`` to ``timer.fired:<kind>``; every
other event to its type.
"""

from __future__ import annotations

import json
from typing import Any

from processors.events import (
    ApprovalDecision,
    Envelope,
    ScheduleFiredPayloadV1,
    StepCompletedPayloadV1,
    StepFailedPayloadV1,
    TimerFiredPayloadV1,
)
from workflows.triggers import SCHEDULE_FIRED, STEP_COMPLETED, STEP_FAILED, TIMER_FIRED, is_name


def result_document(result_json: str) -> dict[str, Any]:
    """A step result as a JSON object; anything else (bad JSON, not an object) is empty."""
    try:
        doc = json.loads(result_json)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def outcome_of(result_json: str, outcome_field: str) -> str | None:
    """The outcome named in a step result, if it is a valid name."""
    value = result_document(result_json).get(outcome_field)
    return value if isinstance(value, str) and is_name(value) else None


def event_keys(event: Envelope, outcome_field: str) -> tuple[str, ...]:
    """The trigger strings ``event`` matches, most specific first."""
    payload = event.payload
    if isinstance(payload, StepCompletedPayloadV1):
        generic = f"{STEP_COMPLETED}:{payload.step}"
        outcome = outcome_of(payload.result_json, outcome_field)
        return (f"{generic}:{outcome}", generic) if outcome is not None else (generic,)
    if isinstance(payload, StepFailedPayloadV1):
        return (f"{STEP_FAILED}:{payload.step}",)
    if isinstance(payload, TimerFiredPayloadV1):
        return (f"{TIMER_FIRED}:{payload.kind}",)
    if isinstance(payload, ScheduleFiredPayloadV1):
        return (f"{SCHEDULE_FIRED}:{payload.schedule}",)
    return (event.event_type,)


def as_text(value: Any) -> str:
    """A field value as text for a ``map<string,string>``: strings as is, the rest as compact
    JSON with sorted keys (deterministic)."""
    if isinstance(value, str):
        return value
    # json.dumps costs ~5 us even for a number; these are exactly what it would return.
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def flatten(doc: dict[str, Any]) -> dict[str, str]:
    """Top-level fields of ``doc`` as text; null fields are left out."""
    return {k: as_text(v) for k, v in sorted(doc.items()) if v is not None}


def payload_fields(event: Envelope) -> dict[str, str]:
    """The event's payload, flattened."""
    return flatten(event.payload.model_dump())


def event_input(event: Envelope, state_name: str) -> dict[str, str]:
    """The causing event's part of a step command's input: ``state`` (the state the step
    runs in), ``event.id``, ``event.type`` and ``event.<field>`` (its payload, flattened).

    An open step call keeps only this part (for retries): the rest of the input is the
    workflow's own data, added again by :func:`step_input` whenever the command is issued.
    """
    out = {"state": state_name, "event.id": event.event_id, "event.type": event.event_type}
    out.update({f"event.{k}": v for k, v in payload_fields(event).items()})
    return out


def step_input(
    event_part: dict[str, str], context: dict[str, str], results: dict[str, str]
) -> dict[str, str]:
    """A step command's input: a scoped view, not the whole workflow state.

    The causing event's part (:func:`event_input`), ``context.<field>`` (the start event's
    payload) and ``result.<step>`` (the latest result document of each completed step).
    """
    out = dict(event_part)
    out.update({f"context.{k}": v for k, v in sorted(context.items())})
    out.update({f"result.{k}": v for k, v in sorted(results.items())})
    return out


def approval_answer(event: Envelope) -> ApprovalDecision | None:
    """The decision carried by approval.granted/denied, else None."""
    payload = event.payload
    return payload if isinstance(payload, ApprovalDecision) else None
