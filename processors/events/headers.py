"""Kafka header names and values of the event contract, in one place.

Header values are bytes on the wire; the constants here are ``str`` and are encoded as ASCII.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: Says how the record value is encoded. Absent means Avro single-object encoding.
HEADER_CONTENT_TYPE: Final = "content-type"
#: Avro single-object encoding (``C3 01`` + CRC-64-AVRO fingerprint + Avro binary body).
CONTENT_TYPE_AVRO: Final = "application/avro"
#: A JSON object in the envelope shape (webhooks); see :func:`processors.events.decode_json`.
CONTENT_TYPE_JSON: Final = "application/json"
#: Lowercase hex HMAC-SHA256 of the record; see :mod:`processors.events.signing`.
HEADER_SIGNATURE: Final = "af-signature"
#: Id of the signing key that produced ``af-signature``.
HEADER_KEY_ID: Final = "af-key-id"
#: On a workflow-events record: the time (epoch ms, decimal ASCII) the orchestrator decides
#: the event at: the gate's admission time, or the punctuation's for an event the engine made.
#: A replay of workflow-events decides each event at this time, so its decisions are the
#: live run's, byte for byte.
HEADER_DECIDED_AT: Final = "af-decided-at"

#: Header names read as the content type, compared case-insensitively: ``content-type`` (and
#: HTTP's ``Content-Type``) and Spring Cloud Stream's ``contentType``.
CONTENT_TYPE_NAMES: Final = frozenset({"content-type", "contenttype"})


def is_content_type(name: str) -> bool:
    """True if header ``name`` names the content type (see :data:`CONTENT_TYPE_NAMES`)."""
    return name.lower() in CONTENT_TYPE_NAMES


def content_type_header(headers: Iterable[tuple[str, bytes | None]]) -> bytes | None:
    """The value of the last content-type header, by any of its accepted names, or None."""
    found: bytes | None = None
    for name, value in headers:
        if is_content_type(name):
            found = value
    return found


def media_type(value: str | bytes | None) -> str:
    """The media type of a content-type value: lower case, parameters (``; charset=...``) and
    the quotes a JSON header mapper (Spring's) adds removed. None or empty means Avro.
    Raises ``UnicodeDecodeError`` for a value that is not ASCII."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("ascii")
    media = (value or "").split(";", 1)[0].strip().strip('"').strip().lower()
    return media or CONTENT_TYPE_AVRO


def decided_at_header(now_ms: int) -> tuple[str, bytes]:
    """The ``af-decided-at`` header for ``now_ms``."""
    return HEADER_DECIDED_AT, str(now_ms).encode()


def workflow_event_headers(now_ms: int) -> tuple[tuple[str, bytes], ...]:
    """The headers of a workflow-events record (Avro) that the engine decides at ``now_ms``:
    what the gate writes for an event it admits, and the punctuation for a timer event."""
    return (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()), decided_at_header(now_ms)


def decided_at(headers: Iterable[tuple[str, bytes | None]]) -> int | None:
    """The ``af-decided-at`` time in ``headers``; None if absent or not a decimal number."""
    for name, value in headers:
        if name == HEADER_DECIDED_AT and value is not None and value.isdigit():
            return int(value)
    return None
