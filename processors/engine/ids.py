"""Deterministic ids: every id the engine makes is a hash of the causing event id and a purpose.

No clock and no randomness, so processing the same event again (a retried transaction, a replay
of the log) produces byte-identical commands, events and audit records, and downstream systems
can deduplicate on the ids. Purposes are spelled out here so two kinds of id can never collide.
"""

from __future__ import annotations

import hashlib
from typing import Final

ID_HEX_CHARS: Final = 32  # 128 bits: collisions are not a practical concern


def derive_id(cause: str, purpose: str) -> str:
    """``sha256("<cause>:<purpose>")`` as lowercase hex, first 32 characters."""
    return hashlib.sha256(f"{cause}:{purpose}".encode()).hexdigest()[:ID_HEX_CHARS]


def command_id(event_id: str, step: str, attempt: int) -> str:
    """Attempt ``attempt`` of the step command issued because of ``event_id``."""
    return derive_id(event_id, f"step:{step}:{attempt}")


def step_id(event_id: str, step: str) -> str:
    """The step's logical id: the same for every attempt of the step that ``event_id`` caused
    (a command's ``causation_id``), so side effects keyed on it happen once across retries."""
    return derive_id(event_id, f"step:{step}")


def approval_id(event_id: str, step: str) -> str:
    """The approval requested on entering an approval state because of ``event_id``."""
    return derive_id(event_id, f"approval:{step}")


def approval_request_event_id(event_id: str, step: str) -> str:
    """The ``approval.requested`` event announcing that approval."""
    return derive_id(event_id, f"approval.requested:{step}")


def timer_id(event_id: str, name: str) -> str:
    """The deadline ``name`` armed because of ``event_id``."""
    return derive_id(event_id, f"timer:{name}")


def timer_event_id(workflow_id: str, name: str, due_ms: int) -> str:
    """The ``timer.fired`` event of a deadline: from workflow id, deadline name and due time."""
    return derive_id(f"{workflow_id}:{name}:{due_ms}", "timer.fired")


def notice_id(event_id: str, kind: str) -> str:
    """A ``WorkflowNotice`` (e.g. ``workflow.completed``) caused by ``event_id``."""
    return derive_id(event_id, f"notice:{kind}")


def audit_id(event_id: str, decision: str, decided_at: int) -> str:
    """The audit record of deciding ``event_id``.

    An event is decided once for real (applied, retried, rejected or expired, possibly after
    being held), so those audits hash the decision kind only. A duplicate can be seen many
    times; the time it was decided at (which the log records, so a replay sees the same time)
    tells those audits apart. No id depends on an offset: a replay reads another topic.
    """
    if decision == "duplicate":
        return derive_id(event_id, f"audit:duplicate:{decided_at}")
    return derive_id(event_id, f"audit:{decision}")


def hold_expiry_event_id(held_event_id: str, expires_at: int) -> str:
    """The ``timer.fired`` (kind ``hold``) that expires a held event."""
    return derive_id(f"{held_event_id}:{expires_at}", "hold.expired")
