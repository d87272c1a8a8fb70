"""Turning events into signed Kafka records, with no I/O: validation, encoding, signing.

:func:`build_record` is what :class:`agentflow.sdk.EventProducer` sends; it is pure, so the
record an upstream system would produce can be checked (or reproduced) without a broker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import SecretBytes, ValidationError

from agentflow.errors import UserError
from processors import reasons
from processors.events import (
    CONTENT_TYPE_AVRO,
    CONTENT_TYPE_JSON,
    EVENT_MODELS,
    HEADER_CONTENT_TYPE,
    Envelope,
    EventError,
    KeyRing,
    SigningKey,
    decode_json,
    default_registry,
    encode,
    model_for,
    validation_detail,
)
from processors.events.jsonconv import to_datum
from processors.gate import RESERVED_EVENT_TYPES

ContentType = Literal["avro", "json"]
Headers = tuple[tuple[str, bytes], ...]
MEDIA_TYPES: Mapping[str, str] = {"avro": CONTENT_TYPE_AVRO, "json": CONTENT_TYPE_JSON}
_ANY_SOURCE = "\x00any-source"  # the owner of a bare secret: it may sign for every source


class SdkError(UserError):
    """A problem the caller can fix (configuration, a missing topic, an unreachable broker)."""


class InvalidEventError(SdkError, ValueError):
    """The event cannot be sent: it is not valid, cannot be encoded, or cannot be signed.

    Raised before anything is produced. ``reason`` is a stable code (the event layer's decode
    and encode reasons, plus ``unknown_key_id``, ``key_not_for_source``, ``key_revoked``,
    ``no_signing_key`` and ``reserved_event_type``); ``detail`` is for people.
    """

    def __init__(self, reason: str, detail: str, event_id: str | None = None) -> None:
        where = f"event {event_id!r}: " if event_id else ""
        super().__init__(f"{where}{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_id = event_id


def event_from_dict(data: Mapping[str, Any]) -> Envelope:
    """The typed event for an envelope given as a dict (parsed JSON).

    The class comes from ``model_for(event_type, schema_version)``. Timestamps may be epoch
    milliseconds or RFC 3339 strings with an offset; fields with defaults may be left out;
    unknown fields are refused. Raises :class:`InvalidEventError`.
    """
    if not isinstance(data, Mapping):
        raise InvalidEventError(
            reasons.UNDECODABLE, f"an event must be a JSON object, not {type(data).__name__}"
        )
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    for name in ("event_type", "schema_version"):
        if name not in data:
            raise InvalidEventError(
                reasons.MISSING_FIELD, f"{name}: required field is missing", event_id
            )
    event_type, version = data["event_type"], data["schema_version"]
    if not isinstance(event_type, str) or not isinstance(version, int) or isinstance(version, bool):
        detail = "event_type must be a string and schema_version an integer"
        raise InvalidEventError(reasons.SCHEMA_INVALID, detail, event_id)
    model = model_for(event_type, version)
    entry = default_registry().event(event_type, version)
    if model is None or entry is None:
        known = sorted({t for t, _ in EVENT_MODELS})
        if event_type not in known:
            detail = f"unknown event type {event_type[:100]!r}; known: {', '.join(known)}"
            raise InvalidEventError(reasons.UNKNOWN_EVENT_TYPE, detail, event_id)
        raise InvalidEventError(
            reasons.UNKNOWN_SCHEMA_VERSION, f"no {event_type} v{version}", event_id
        )
    try:
        return model.model_validate(to_datum(dict(data), entry.schema, entry.names))
    except EventError as exc:
        raise InvalidEventError(exc.reason, exc.detail, event_id) from None
    except ValidationError as exc:
        raise InvalidEventError(reasons.SCHEMA_INVALID, validation_detail(exc), event_id) from None


def check_event(event: Envelope) -> Envelope:
    """``event`` re-validated as its concrete class; raises :class:`InvalidEventError`.

    Catches events built with ``model_construct``, of the abstract :class:`Envelope`, or of a
    type only the engine may make.
    """
    if not isinstance(event, Envelope):
        raise InvalidEventError(reasons.SCHEMA_INVALID, f"not an Envelope: {type(event).__name__}")
    event_id = getattr(event, "event_id", None)
    event_id = event_id if isinstance(event_id, str) else None
    try:
        data = event.model_dump(warnings=False)
    except Exception as exc:  # a model_construct'ed event may not even dump
        raise InvalidEventError(reasons.SCHEMA_INVALID, str(exc)[:300], event_id) from None
    model = model_for(str(data.get("event_type")), data.get("schema_version", 0))
    if model is None:
        return event_from_dict(data)  # raises with the precise reason
    try:
        checked = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError(reasons.SCHEMA_INVALID, validation_detail(exc), event_id) from None
    if checked.event_type in RESERVED_EVENT_TYPES:
        detail = f"{checked.event_type} is made by the engine; the gate refuses it from upstream"
        raise InvalidEventError(reasons.RESERVED_EVENT_TYPE, detail, event_id)
    return checked


@dataclass(frozen=True)
class Signer:
    """Signs records for event sources with a :class:`KeyRing`.

    With ``key_id`` every record is signed with that key (it must belong to the event's source);
    without, with the first live key of the event's source (sorted by key id).
    """

    keyring: KeyRing
    key_id: str | None = None

    @classmethod
    def from_secret(cls, key_id: str, secret: str | bytes, source: str | None = None) -> Signer:
        """A signer holding one secret, for ``source`` (or, if None, for any source)."""
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        key = SigningKey(key_id=key_id, source=source or _ANY_SOURCE, secret=SecretBytes(raw))
        return cls(KeyRing([key]), key_id)

    def key_for(self, source: str, event_id: str | None = None) -> str:
        """The key id to sign ``source``'s events with; raises :class:`InvalidEventError`."""
        if self.key_id is None:
            ids = self.keyring.key_ids(source)
            if not ids:
                detail = f"no live signing key for source {source!r}; add one to the signing keys"
                raise InvalidEventError("no_signing_key", detail, event_id)
            return ids[0]
        owner = self.keyring.source_of(self.key_id)
        if owner is None:
            detail = f"key id {self.key_id!r} is not in the signing keys"
            raise InvalidEventError(reasons.UNKNOWN_KEY_ID, detail, event_id)
        if owner not in (source, _ANY_SOURCE):
            detail = f"key {self.key_id!r} belongs to source {owner!r}, the event's is {source!r}"
            raise InvalidEventError(reasons.KEY_NOT_FOR_SOURCE, detail, event_id)
        return self.key_id

    def headers(
        self, key_id: str, key: bytes, value: bytes, event_id: str | None = None
    ) -> Headers:
        """The ``af-key-id`` and ``af-signature`` headers for (key, value)."""
        try:
            return self.keyring.headers(key_id, key, value)
        except ValueError as exc:  # revoked
            raise InvalidEventError(reasons.KEY_REVOKED, str(exc), event_id) from None


@dataclass(frozen=True)
class OutgoingRecord:
    """A record ready to produce: key, value and headers, and the event it carries."""

    key: bytes
    value: bytes
    headers: Headers
    event_id: str | None = None
    workflow_id: str | None = None


def encode_value(event: Envelope, content_type: ContentType = "avro") -> bytes:
    """The record value: Avro single-object encoding, or the envelope as compact JSON."""
    try:
        if content_type == "avro":
            return encode(event)
        if content_type != "json":
            raise InvalidEventError(
                reasons.UNSUPPORTED_CONTENT_TYPE, f"{content_type!r}: avro or json"
            )
        value = json.dumps(
            event.model_dump(mode="json", warnings=False), separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        decode_json(value)  # what the gate will do with it
        return value
    except EventError as exc:
        raise InvalidEventError(exc.reason, exc.detail, event.event_id) from None


def build_record(
    event: Envelope,
    signer: Signer,
    content_type: ContentType = "avro",
    extra_headers: Sequence[tuple[str, bytes]] = (),
) -> OutgoingRecord:
    """Validate, encode and sign ``event``: keyed by ``workflow_id``, headers ``content-type``,
    ``af-key-id``, ``af-signature`` (then ``extra_headers``). Raises :class:`InvalidEventError`.
    """
    event = check_event(event)
    key_id = signer.key_for(event.source, event.event_id)
    value = encode_value(event, content_type)
    media = ((HEADER_CONTENT_TYPE, MEDIA_TYPES[content_type].encode("ascii")),)
    signed = signer.headers(key_id, event.key, value, event.event_id)
    headers = media + signed + tuple(extra_headers)
    return OutgoingRecord(event.key, value, headers, event.event_id, event.workflow_id)
