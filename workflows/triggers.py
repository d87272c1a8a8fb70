"""Transition triggers: the strings a definition writes in ``Transition.on``, parsed.

Four shapes, so a definition reads like the event log it reacts to:

* ``"<event_type>"`` — any event of that type, e.g. ``"ticket.created"``;
* ``"step.completed:<step>"`` or ``"step.completed:<step>:<outcome>"`` — a step result; the
  outcome is read from the result document (the definition's ``outcome_field``);
* ``"step.failed:<step>"`` — a step that failed for good (retries exhausted or permanent);
* ``"timer.fired:<deadline name>"`` — a deadline of the definition came due;
* ``"schedule.fired:<schedule name>"`` — a tick of a schedule (:mod:`workflows.schedules`),
  usually a start event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

#: The pseudo-state a workflow is in before its start event: transitions on a start event
#: leave from here. It is not a real state and may not be listed in ``states``.
START: Final = "(start)"

STEP_COMPLETED: Final = "step.completed"
STEP_FAILED: Final = "step.failed"
TIMER_FIRED: Final = "timer.fired"
SCHEDULE_FIRED: Final = "schedule.fired"
APPROVAL_GRANTED: Final = "approval.granted"
APPROVAL_DENIED: Final = "approval.denied"

#: Event types the engine matches by a qualifier, never by their bare type.
QUALIFIED_TYPES: Final = frozenset({STEP_COMPLETED, STEP_FAILED, TIMER_FIRED, SCHEDULE_FIRED})

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

TriggerKind = Literal["event", "step_completed", "step_failed", "timer", "schedule"]


class DefinitionError(ValueError):
    """A workflow definition is malformed; the message names the definition and the problem."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """A parsed ``Transition.on``. ``text`` is the original string (used in audit records)."""

    text: str
    kind: TriggerKind
    event_type: str
    step: str | None = None
    outcome: str | None = None
    timer: str | None = None
    schedule: str | None = None

    def overlaps(self, other: Trigger) -> bool:
        """True if some event would match both triggers (e.g. ``step.completed:a`` and
        ``step.completed:a:ok``), which would make the definition ambiguous."""
        if self.text == other.text:
            return True
        if self.kind == other.kind == "step_completed" and self.step == other.step:
            return self.outcome is None or other.outcome is None
        return False


def is_name(text: str) -> bool:
    """True for a valid state, step, deadline or outcome name: ``[a-z][a-z0-9_]*``."""
    return bool(_NAME.match(text))


def parse_trigger(text: str) -> Trigger:
    """Parse ``text`` (see the module docstring); :class:`DefinitionError` if malformed."""
    head, _, rest = text.partition(":")
    if not _EVENT_TYPE.match(head):
        raise DefinitionError(f"trigger {text!r}: {head!r} is not an event type")
    parts = rest.split(":") if rest else []
    if any(not is_name(p) for p in parts):
        raise DefinitionError(f"trigger {text!r}: qualifiers must match [a-z][a-z0-9_]*")
    if head == STEP_COMPLETED and len(parts) in (1, 2):
        outcome = parts[1] if len(parts) == 2 else None
        return Trigger(text, "step_completed", head, step=parts[0], outcome=outcome)
    if head == STEP_FAILED and len(parts) == 1:
        return Trigger(text, "step_failed", head, step=parts[0])
    if head == TIMER_FIRED and len(parts) == 1:
        return Trigger(text, "timer", head, timer=parts[0])
    if head == SCHEDULE_FIRED and len(parts) == 1:
        return Trigger(text, "schedule", head, schedule=parts[0])
    if head in QUALIFIED_TYPES:
        raise DefinitionError(
            f"trigger {text!r}: use {STEP_COMPLETED}:<step>[:<outcome>], "
            f"{STEP_FAILED}:<step>, {TIMER_FIRED}:<deadline> or {SCHEDULE_FIRED}:<schedule>"
        )
    if parts:
        raise DefinitionError(
            f"trigger {text!r}: only step, timer and schedule triggers take qualifiers"
        )
    return Trigger(text, "event", head)
