"""The exceptions of the event contract layer and their stable reason codes."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import ValidationError

DecodeReason = Literal[
    "undecodable",
    "unsupported_content_type",
    "unknown_schema",
    "unknown_event_type",
    "unknown_schema_version",
    "missing_field",
    "schema_invalid",
]
"""Why bytes could not be turned into an event or record.

* ``undecodable`` — not single-object encoded Avro (bad magic, short, corrupt or trailing
  bytes), or not a JSON object.
* ``unsupported_content_type`` — the content-type header names an encoding we do not read.
* ``unknown_schema`` — the fingerprint names no schema we know.
* ``unknown_event_type`` — the event type is not known, or the schema is not an event schema.
* ``unknown_schema_version`` — the event type is known but not that version.
* ``missing_field`` — a required field (one without a default) is absent (JSON).
* ``schema_invalid`` — the data does not conform to the schema or the model's rules.
"""

EncodeReason = Literal["unknown_schema", "schema_invalid"]
"""Why a value could not be encoded: no such schema, or the value does not fit it."""

DECODE_REASONS: frozenset[str] = frozenset(get_args(DecodeReason))
ENCODE_REASONS: frozenset[str] = frozenset(get_args(EncodeReason))


class EventError(ValueError):
    """Base of the event layer's errors. ``reason`` is a stable code; ``detail`` is for humans."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class EventDecodeError(EventError):
    """Bytes could not be decoded into a valid event or record. The only error decoding raises."""

    reason: DecodeReason

    def __init__(self, reason: DecodeReason, detail: str) -> None:
        super().__init__(reason, detail)


class EventEncodeError(EventError):
    """A value could not be encoded. The only error encoding raises."""

    reason: EncodeReason

    def __init__(self, reason: EncodeReason, detail: str) -> None:
        super().__init__(reason, detail)


def validation_detail(exc: ValidationError) -> str:
    """A pydantic error as one short line: up to five ``field.path: message`` parts."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)[:500]
