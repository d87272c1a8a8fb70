"""The validation gate: schema, fields, signature, tenant, actor, freshness and size checks."""

from processors.gate.gate import (
    GATE_VERSION,
    REASONS,
    RESERVED_EVENT_TYPES,
    Accepted,
    Gate,
    Rejected,
)
from processors.gate.policy import GatePolicy, PolicyError, load_policy
from processors.gate.processor import GateProcessor, admit, misrouted
from processors.roles import EVENTS_ROLE, INGRESS_ROLE

__all__ = [
    "EVENTS_ROLE",
    "GATE_VERSION",
    "INGRESS_ROLE",
    "REASONS",
    "RESERVED_EVENT_TYPES",
    "Accepted",
    "Gate",
    "GatePolicy",
    "GateProcessor",
    "PolicyError",
    "Rejected",
    "admit",
    "load_policy",
    "misrouted",
]
