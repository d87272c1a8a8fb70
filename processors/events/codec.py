"""Encode and decode events and internal records (Avro single-object encoding, and JSON).

Wire format (Avro spec, "Single-object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema (8 bytes, little-endian) | Avro binary

Every decode function raises :class:`EventDecodeError` (with a stable ``reason``) for any bad
input and nothing else; every encode function raises only :class:`EventEncodeError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import msgspec
from fastavro.validation import validate
from pydantic import ValidationError

from processors import reasons
from processors.events.avrogen import Writer
from processors.events.catalog import model_for
from processors.events.envelope import Envelope
from processors.events.errors import EventDecodeError, EventEncodeError, validation_detail
from processors.events.fingerprint import HEADER_LEN, SINGLE_OBJECT_MAGIC
from processors.events.headers import CONTENT_TYPE_AVRO, CONTENT_TYPE_JSON, media_type
from processors.events.jsonconv import to_datum
from processors.events.registry import EventRegistry, SchemaEntry, default_registry

S = TypeVar("S", bound=msgspec.Struct)

#: Avro full name of the quarantine record (``avro_schemas/internal/quarantine_record.avsc``).
QUARANTINE_RECORD: Final = "agentflow.internal.QuarantineRecord"


def _check(entry: SchemaEntry, datum: Any) -> str | None:
    try:
        # raise_errors=False first: the same checks in the same order, but a union branch that
        # does not match costs a False instead of a ValidationError whose message is built with
        # json.dumps (4-5x slower on the engine's records). Only a datum that fails is checked
        # again, for the message.
        if validate(datum, entry.wire_schema, raise_errors=False, strict=True):
            return None
        validate(datum, entry.wire_schema, raise_errors=True, strict=True)
    except Exception as exc:  # fastavro's ValidationError, or worse for exotic input
        return f"{entry.name}: {exc}"[:500]
    return f"{entry.name}: the datum does not conform to the schema"  # pragma: no cover


def _write(entry: SchemaEntry, write: Writer, value: Any) -> bytes:
    """``entry``'s header and ``value`` written by one of its writers (dict or model)."""
    try:
        return entry.header + write(value)
    except Exception as exc:  # KeyError, TypeError, AttributeError... for a bad value
        raise EventEncodeError(reasons.SCHEMA_INVALID, f"{entry.name}: {exc!r}"[:500]) from None


def _read(data: object, registry: EventRegistry) -> tuple[SchemaEntry, Any]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EventDecodeError(reasons.UNDECODABLE, f"expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) < HEADER_LEN or raw[:2] != SINGLE_OBJECT_MAGIC:
        raise EventDecodeError(
            reasons.UNDECODABLE, "not Avro single-object encoded (no C3 01 header)"
        )
    entry = registry.by_fingerprint(raw[2:HEADER_LEN])
    if entry is None:
        raise EventDecodeError(
            reasons.UNKNOWN_SCHEMA, f"unknown schema fingerprint {raw[2:10].hex()}"
        )
    try:
        datum, end = entry.read(raw, HEADER_LEN)
    except Exception as exc:  # IndexError, EOFError, UnicodeDecodeError, ValueError, ...
        detail = f"{entry.name}: corrupt Avro body ({type(exc).__name__})"
        raise EventDecodeError(reasons.UNDECODABLE, detail) from None
    if end != len(raw):
        raise EventDecodeError(reasons.UNDECODABLE, f"{len(raw) - end} trailing byte(s)")
    return entry, datum


def _to_event(entry: SchemaEntry, datum: Any) -> Envelope:
    if entry.event_type is None:
        raise EventDecodeError(reasons.UNKNOWN_EVENT_TYPE, f"{entry.name} is not an event schema")
    model = model_for(entry.event_type, entry.version)
    if model is None:  # the agreement test keeps this unreachable
        detail = f"no model for {entry.event_type} v{entry.version}"
        raise EventDecodeError(reasons.UNKNOWN_SCHEMA_VERSION, detail)
    try:
        return model.model_validate(datum)
    except ValidationError as exc:
        raise EventDecodeError(reasons.SCHEMA_INVALID, validation_detail(exc)) from None


def encode(event: Envelope, *, registry: EventRegistry | None = None) -> bytes:
    """Single-object encode ``event`` with the schema of its type and version."""
    event_type, version = event.event_type, event.schema_version
    entry = (registry or default_registry()).event(event_type, version)
    if entry is None:
        raise EventEncodeError(reasons.UNKNOWN_SCHEMA, f"no schema for {event_type} v{version}")
    return _write(entry, entry.write_model, event)


def decode(data: bytes, *, registry: EventRegistry | None = None) -> Envelope:
    """Decode single-object encoded bytes into the typed event (e.g. ``TicketCreatedV1``)."""
    entry, datum = _read(data, registry or default_registry())
    return _to_event(entry, datum)


def decode_json(data: bytes, *, registry: EventRegistry | None = None) -> Envelope:
    """Decode a JSON event: the envelope as a JSON object, ``payload`` a nested object.

    The schema is chosen by ``event_type`` and ``schema_version``; ``occurred_at`` (and every
    other timestamp) may be epoch milliseconds or an RFC 3339 string with a UTC offset. Missing
    fields with defaults take them; unknown fields are refused.
    """
    reg = registry or default_registry()
    try:
        obj = json.loads(bytes(data), parse_constant=_reject_constant)
    except (ValueError, TypeError, RecursionError) as exc:
        raise EventDecodeError(reasons.UNDECODABLE, f"not JSON: {type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise EventDecodeError(reasons.UNDECODABLE, "a JSON event must be an object")
    for name in ("event_type", "schema_version"):
        if name not in obj:
            raise EventDecodeError(reasons.MISSING_FIELD, f"{name}: required field is missing")
    event_type, version = obj["event_type"], obj["schema_version"]
    if not isinstance(event_type, str):
        raise EventDecodeError(reasons.SCHEMA_INVALID, "event_type: expected string")
    if not isinstance(version, int) or isinstance(version, bool):
        raise EventDecodeError(reasons.SCHEMA_INVALID, "schema_version: expected int")
    entry = reg.event(event_type, version)
    if entry is None:
        if reg.latest(event_type) is None:
            raise EventDecodeError(
                reasons.UNKNOWN_EVENT_TYPE, f"unknown event type {event_type[:100]!r}"
            )
        raise EventDecodeError(reasons.UNKNOWN_SCHEMA_VERSION, f"no {event_type} v{version}")
    return _to_event(entry, to_datum(obj, entry.schema, entry.names))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_value(
    data: bytes, content_type: str | bytes | None, *, registry: EventRegistry | None = None
) -> Envelope:
    """Decode by the content type (see :func:`~processors.events.headers.media_type`):
    absent or Avro → :func:`decode`, JSON → :func:`decode_json`."""
    try:
        media = media_type(content_type)
    except UnicodeDecodeError:
        raise EventDecodeError(reasons.UNSUPPORTED_CONTENT_TYPE, "non-ASCII content-type") from None
    if media == CONTENT_TYPE_AVRO:
        return decode(data, registry=registry)
    if media == CONTENT_TYPE_JSON:
        return decode_json(data, registry=registry)
    raise EventDecodeError(reasons.UNSUPPORTED_CONTENT_TYPE, f"cannot decode {media[:100]!r}")


def encode_record(
    schema_name: str, record: Mapping[str, Any], *, registry: EventRegistry | None = None
) -> bytes:
    """Single-object encode an internal record (e.g. :data:`QUARANTINE_RECORD`), latest version.

    Timestamps are epoch-millisecond ints, ``bytes`` fields are ``bytes``.
    """
    entry = (registry or default_registry()).record(schema_name)
    if entry is None:
        raise EventEncodeError(reasons.UNKNOWN_SCHEMA, f"no internal record named {schema_name!r}")
    if (problem := _check(entry, record)) is not None:
        raise EventEncodeError(reasons.SCHEMA_INVALID, problem)
    return _write(entry, entry.write, record)


def decode_record(
    data: bytes, *, registry: EventRegistry | None = None
) -> tuple[str, dict[str, Any]]:
    """Decode any single-object encoded record we have a schema for: (Avro full name, datum).

    Checks the datum against the schema (e.g. ``int`` range); events come back as plain dicts.
    An internal record written with an older version of its schema is resolved to the latest
    version (see :func:`_upgrade`), so readers see one shape.
    """
    reg = registry or default_registry()
    entry, datum = _read(data, reg)
    if not isinstance(datum, dict):  # pragma: no cover - every top-level schema is a record
        raise EventDecodeError(reasons.SCHEMA_INVALID, "top-level datum is not a record")
    if (problem := _check(entry, datum)) is not None:
        raise EventDecodeError(reasons.SCHEMA_INVALID, problem)
    if not entry.is_event:
        latest = reg.record(entry.name)
        if latest is not None and latest is not entry:
            datum = _upgrade(latest, datum)
    return entry.name, datum


def _upgrade(latest: SchemaEntry, datum: Mapping[str, Any]) -> dict[str, Any]:
    """Avro schema resolution of a record's top level: each field of the latest schema is
    taken by its name, else by one of its ``aliases`` (a renamed field), else its default."""
    out: dict[str, Any] = {}
    for f in latest.schema["fields"]:
        name = f["name"]
        for candidate in (name, *f.get("aliases", ())):
            if candidate in datum:
                out[name] = datum[candidate]
                break
        else:
            out[name] = f.get("default")
    return out


def encode_model(
    schema_name: str, model: msgspec.Struct, *, registry: EventRegistry | None = None
) -> bytes:
    """Single-object encode an internal record held as a Struct (audit record, step command...).

    Unlike :func:`encode_record` the datum is not validated against the schema: the Struct's
    declared types are the check (the code that builds them is mypy-strict), and a unit test
    proves that every internal Struct agrees with its schema field by field and type by type.
    The writer still refuses a value of the wrong type.
    """
    entry = (registry or default_registry()).record(schema_name)
    if entry is None:
        raise EventEncodeError(reasons.UNKNOWN_SCHEMA, f"no internal record named {schema_name!r}")
    return _write(entry, entry.write_model, model)


def decode_model(
    data: bytes, schema_name: str, model: type[S], *, registry: EventRegistry | None = None
) -> S:
    """Decode a record written with :func:`encode_model` into the Struct ``model``.

    Conversion to the Struct checks the datum (ranges and literals included), so it is not
    checked against the schema twice. A record of another schema is ``unknown_schema``. One
    written with an older version of the schema is resolved to the latest first (see
    :func:`_upgrade`).
    """
    reg = registry or default_registry()
    entry, datum = _read(data, reg)
    if entry.name != schema_name:
        raise EventDecodeError(reasons.UNKNOWN_SCHEMA, f"expected {schema_name}, got {entry.name}")
    latest = reg.record(entry.name)
    if not entry.is_event and latest is not None and latest is not entry:
        datum = _upgrade(latest, datum)
    try:
        return msgspec.convert(datum, model)
    except msgspec.ValidationError as exc:
        raise EventDecodeError(reasons.SCHEMA_INVALID, str(exc)[:500]) from None
