"""The topic roles processors read and write; the topic catalog maps each to a topic."""

from __future__ import annotations

from typing import Final

INGRESS_ROLE: Final = "ingress"
EVENTS_ROLE: Final = "events"
QUARANTINE_ROLE: Final = "quarantine"
STEPS_ROLE: Final = "steps"
OUTPUTS_ROLE: Final = "outputs"
AUDIT_ROLE: Final = "audit"
