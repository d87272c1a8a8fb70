"""The one registry of quarantine reason codes: the gate's, the engine's and the host's.

A reason code is the stable contract of a rejected record: it is the quarantine record's
``reason`` field and its ``af-reason`` header, and scripts match on it. Each code is defined
here once, with what it means and the components that give it; code elsewhere uses the
constants below. ``agentflow quarantine list``, the README's table and the tests read
:data:`REASONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

Component = Literal["gate", "engine", "host"]


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code, what it means, and which components give it."""

    code: str
    description: str
    given_by: tuple[Component, ...]


_registry: dict[str, Reason] = {}


def _define(code: str, description: str, *given_by: Component) -> str:
    if code in _registry:  # pragma: no cover - a module-level programming error
        raise ValueError(f"reason {code!r} is defined twice")
    _registry[code] = Reason(code, description, given_by)
    return code


# -- the gate, in the order it checks ---------------------------------------------------------
TOO_LARGE: Final = _define(
    "too_large", "key, value or headers exceed the policy's size limits", "gate"
)
MISSING_KEY: Final = _define(
    "missing_key", "the record has no key; events are keyed by workflow_id", "gate"
)
UNDECODABLE: Final = _define(
    "undecodable", "not Avro single-object encoding, or not a JSON object", "gate", "engine"
)
UNSUPPORTED_CONTENT_TYPE: Final = _define(
    "unsupported_content_type",
    "the content-type header names an encoding the gate cannot read",
    "gate",
)
UNKNOWN_SCHEMA: Final = _define(
    "unknown_schema", "the Avro fingerprint names no known schema", "gate", "engine"
)
UNKNOWN_EVENT_TYPE: Final = _define(
    "unknown_event_type", "the event type is not known", "gate", "engine"
)
UNKNOWN_SCHEMA_VERSION: Final = _define(
    "unknown_schema_version", "the event type is known, but not that version", "gate", "engine"
)
MISSING_FIELD: Final = _define("missing_field", "a required field is absent", "gate", "engine")
SCHEMA_INVALID: Final = _define(
    "schema_invalid", "the data does not conform to the schema", "gate", "engine"
)
KEY_MISMATCH: Final = _define(
    "key_mismatch", "the Kafka key differs from the envelope's workflow_id", "gate", "engine"
)
RESERVED_EVENT_TYPE: Final = _define(
    "reserved_event_type", "only the engine may make this event type", "gate"
)
UNKNOWN_SOURCE: Final = _define("unknown_source", "the source system is not in the policy", "gate")
SIGNATURE_MISSING: Final = _define("signature_missing", "no af-signature header", "gate")
KEY_ID_MISSING: Final = _define("key_id_missing", "no af-key-id header", "gate")
UNKNOWN_KEY_ID: Final = _define("unknown_key_id", "the signing key id is not known", "gate")
KEY_NOT_FOR_SOURCE: Final = _define(
    "key_not_for_source", "the signing key belongs to another source", "gate"
)
KEY_REVOKED: Final = _define("key_revoked", "the signing key id is revoked", "gate")
SIGNATURE_INVALID: Final = _define(
    "signature_invalid", "the HMAC does not match the key and value bytes", "gate"
)
TENANT_NOT_ALLOWED: Final = _define(
    "tenant_not_allowed", "the source may not speak for this tenant", "gate"
)
EVENT_TYPE_NOT_ALLOWED: Final = _define(
    "event_type_not_allowed", "the source may not send this event type", "gate"
)
ACTOR_NOT_PERMITTED: Final = _define(
    "actor_not_permitted", "the actor lacks the role or kind this event type needs", "gate"
)
STALE_EVENT: Final = _define(
    "stale_event", "occurred_at is older than the event type's maximum age", "gate"
)
FUTURE_EVENT: Final = _define(
    "future_event",
    "occurred_at is further in the future than the allowed clock skew",
    "gate",
)

# -- the engine ---------------------------------------------------------------------------------
INVALID_TRANSITION: Final = _define(
    "invalid_transition",
    "no transition takes the event in the current state, nor in any state reachable from it",
    "engine",
)
TENANT_MISMATCH: Final = _define(
    "tenant_mismatch", "the event's tenant is not the workflow's tenant", "engine"
)
UNEXPECTED_APPROVAL: Final = _define(
    "unexpected_approval",
    "an approval.granted/denied that answers no pending approval of the workflow",
    "engine",
)
REVIEWER_NOT_PERMITTED: Final = _define(
    "reviewer_not_permitted",
    "the approval's actor is not its reviewer, or lacks the approval step's role",
    "engine",
)
SELF_APPROVAL: Final = _define(
    "self_approval",
    "the reviewer started the workflow, or caused the event that led to the request",
    "engine",
)
STALE_APPROVAL: Final = _define(
    "stale_approval",
    "the answer names another proposal than the pending one (its hash, or a quorum's edits)",
    "engine",
)
DUPLICATE_APPROVER: Final = _define(
    "duplicate_approver",
    "the reviewer already granted this approval, which needs distinct approvers",
    "engine",
)
UNEXPECTED_STEP_RESULT: Final = _define(
    "unexpected_step_result",
    "a step.completed/failed whose command the workflow never issued",
    "engine",
)
UNKNOWN_TIMER: Final = _define(
    "unknown_timer", "a timer.fired for a timer that is not armed", "engine"
)
UNKNOWN_DEFINITION: Final = _define(
    "unknown_definition", "the workflow's definition version is no longer registered", "engine"
)
HOLD_LIMIT: Final = _define(
    "hold_limit", "the workflow already holds the maximum number of early events", "engine"
)
ORPHAN_EVENT: Final = _define(
    "orphan_event", "a held event expired and its workflow never started", "engine"
)
PREREQUISITE_TIMEOUT: Final = _define(
    "prerequisite_timeout",
    "a held event expired before the workflow reached a state that takes it",
    "engine",
)

# -- the host -----------------------------------------------------------------------------------
PROCESSOR_ERROR: Final = _define(
    "processor_error", "a processor raised on the record (a bug, not bad input)", "host"
)

REASONS: Final[Mapping[str, Reason]] = MappingProxyType(_registry)
"""Every reason code, in definition order."""

DECODE_REASONS: Final = frozenset(
    {
        UNDECODABLE,
        UNSUPPORTED_CONTENT_TYPE,
        UNKNOWN_SCHEMA,
        UNKNOWN_EVENT_TYPE,
        UNKNOWN_SCHEMA_VERSION,
        MISSING_FIELD,
        SCHEMA_INVALID,
    }
)
"""The reasons decoding bytes into an event can give (``EventDecodeError.reason``)."""

ENCODE_REASONS: Final = frozenset({UNKNOWN_SCHEMA, SCHEMA_INVALID})
"""The reasons encoding a value can give (``EventEncodeError.reason``)."""


def given_by(component: Component) -> tuple[str, ...]:
    """The codes ``component`` gives, in definition order."""
    return tuple(code for code, r in _registry.items() if component in r.given_by)
