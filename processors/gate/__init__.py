"""The validation gate: schema, fields, signature, tenant, actor, freshness and size checks."""

from processors.gate.gate import (
    GATE_REASONS,
    GATE_VERSION,
    RESERVED_EVENT_TYPES,
    Accepted,
    Gate,
    Rejected,
)
from processors.gate.policy import GatePolicy, PolicyError, load_policy
from processors.gate.processor import GATE_OUTPUT_ROLES, GateProcessor, admit, misrouted
from processors.roles import EVENTS_ROLE, INGRESS_ROLE

__all__ = [
    "EVENTS_ROLE",
    "GATE_OUTPUT_ROLES",
    "GATE_REASONS",
    "GATE_VERSION",
    "INGRESS_ROLE",
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
