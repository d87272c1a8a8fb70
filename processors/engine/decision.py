"""What the engine decided about one event: the value objects :func:`decide` returns.

A :class:`Decision` carries everything the processor needs to turn it into a ``Result``: the
state to write, the step commands, the output events, the timer index changes, exactly one
audit record, and the rejection (which the processor quarantines) if the event was refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, Literal

from processors import reasons
from processors.engine.records import AuditRecord, DecisionKind, StepCommand, WorkflowNotice
from processors.engine.state import HeldEvent, WorkflowState
from processors.events import Envelope

# The reason codes the engine gives are defined in processors.reasons, with the others.
REASON_CODES: Final = reasons.given_by("engine")

_DUE: Final = struct.Struct(">Q")

TimerKind = Literal["deadline", "hold"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an event was refused: a stable reason code and a human-readable detail."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class TimerRef:
    """An entry of the per-partition ``timers`` index.

    ``kind`` is ``deadline`` (a definition deadline; ``timer_id`` is the armed timer's id and
    ``name`` the deadline name) or ``hold`` (a held event's expiry; ``timer_id`` is the held
    event's id and ``name`` its event type).
    """

    due_ms: int
    workflow_id: str
    timer_id: str
    kind: TimerKind
    name: str

    @property
    def key(self) -> bytes:
        """``due_ms`` as 8 bytes big-endian, the workflow id, NUL, the kind and timer id: key
        order is due order, so a range scan ``[0, now]`` finds exactly the due entries."""
        suffix = f"{self.workflow_id}\x00{self.kind}:{self.timer_id}"
        return _DUE.pack(self.due_ms) + suffix.encode()

    def to_json(self) -> dict[str, object]:
        return {
            "due_ms": self.due_ms,
            "workflow_id": self.workflow_id,
            "timer_id": self.timer_id,
            "kind": self.kind,
            "name": self.name,
        }

    @staticmethod
    def from_json(data: dict[str, object]) -> TimerRef:
        kind: TimerKind
        if data["kind"] == "deadline":
            kind = "deadline"
        elif data["kind"] == "hold":
            kind = "hold"
        else:
            raise ValueError(f"unknown timer kind {data['kind']!r}")
        due = data["due_ms"]
        if not isinstance(due, int):
            raise ValueError("due_ms must be an int")
        return TimerRef(
            due, str(data["workflow_id"]), str(data["timer_id"]), kind, str(data["name"])
        )


def due_upper_bound(now_ms: int) -> bytes:
    """The exclusive end key of a range scan for index entries due at or before ``now_ms``."""
    return _DUE.pack(now_ms + 1)


Output = Envelope | WorkflowNotice
"""An output record: an event (``approval.requested``) or a lifecycle notice."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's verdict on one event.

    ``state`` is the workflow state to write, or None to write nothing (duplicates, and tenant
    mismatches, which must not touch another tenant's workflow). ``held`` is set when the event
    came out of the workflow's held list (released or expired), so its original bytes can be
    quarantined. ``offset`` is the event's input offset, -1 for engine-made timer events.
    """

    kind: DecisionKind
    event: Envelope
    offset: int
    state: WorkflowState | None
    audit: AuditRecord
    commands: tuple[StepCommand, ...] = ()
    outputs: tuple[Output, ...] = ()
    rejection: Rejection | None = None
    armed: tuple[TimerRef, ...] = ()
    disarmed: tuple[TimerRef, ...] = ()
    held: HeldEvent | None = None

    @property
    def workflow_id(self) -> str:
        return self.event.workflow_id

    @property
    def quarantine(self) -> bool:
        """True if the event must go to quarantine (refused or expired; not duplicates)."""
        return self.rejection is not None
