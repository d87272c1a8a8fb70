"""Reading the quarantine topic and releasing records from it back to ingress.

A quarantine record (:mod:`processors.quarantine`) keeps the rejected record's key, value and
headers byte for byte, with the reason. Reads are ``read_committed`` from the beginning (or the
first offset at or after ``since``) up to the end offsets taken when the read starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agentflow.sdk.reader import fetch_message, read_topic
from agentflow.sdk.records import ContentType, Headers, OutgoingRecord, SdkError
from processors.events import (
    CONTENT_TYPE_JSON,
    EventError,
    content_type_header,
    decode_value,
    media_type,
)
from processors.quarantine import REASON_HEADER, read_quarantine

RELEASED_FROM_HEADER = "af-released-from"


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds, e.g. ``2026-01-31T12:00:00.000Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class QuarantineEntry:
    """One record of the quarantine topic; ``record`` is the decoded quarantine record (None if
    it could not be decoded, then ``problem`` says why)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    record: Mapping[str, Any] | None
    reason_header: str | None = None
    problem: str | None = None

    def _get(self, name: str) -> Any:
        return self.record.get(name) if self.record is not None else None

    @property
    def ref(self) -> str:
        """``<quarantine topic>:<partition>:<offset>``, the ``af-released-from`` value."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        return str(self._get("reason") or self.reason_header or "undecodable_quarantine_record")

    @property
    def quarantined_at_ms(self) -> int:
        at = self._get("quarantined_at")
        return int(at) if isinstance(at, int) else self.timestamp_ms

    @property
    def original_key(self) -> bytes | None:
        key: bytes | None = self._get("original_key")
        return key

    @property
    def original_value(self) -> bytes | None:
        value: bytes | None = self._get("original_value")
        return value

    @property
    def original_headers(self) -> Headers:
        raw = self._get("original_headers") or []
        return tuple((h["key"], h["value"] or b"") for h in raw)

    def header(self, name: str) -> bytes | None:
        """The last value of original header ``name``, or None."""
        found = None
        for key, value in self.original_headers:
            if key == name:
                found = value
        return found

    def summary(self) -> dict[str, Any]:
        """The ``quarantine list --json`` object of this record."""
        return {
            "partition": self.partition,
            "offset": self.offset,
            "reason": self.reason,
            "detail": self._get("detail") or self.problem,
            "event_id": self._get("event_id"),
            "tenant": self._get("tenant"),
            "workflow_id": _text(self.original_key),
            "quarantined_at": iso_ms(self.quarantined_at_ms),
            "quarantined_at_ms": self.quarantined_at_ms,
            "original_topic": self._get("original_topic"),
            "original_partition": self._get("original_partition"),
            "original_offset": self._get("original_offset"),
            "quarantined_by": self._get("quarantined_by"),
        }

    def decoded_value(self) -> tuple[Any, str | None]:
        """The original value as JSON-able data (the event, or raw JSON), and the problem if it
        did not decode as an event."""
        value = self.original_value
        if value is None:
            return None, "no value"
        try:
            return decode_value(
                value, content_type_header(self.original_headers)
            ).model_dump(), None
        except EventError as exc:
            problem = f"{exc.reason}: {exc.detail}"
        try:
            return json.loads(value), problem
        except ValueError:
            return None, problem

    def details(self) -> dict[str, Any]:
        """Everything ``quarantine show`` prints: original bytes as hex, decoded, headers."""
        decoded, problem = self.decoded_value()
        return {
            **self.summary(),
            "key_hex": self.original_key.hex() if self.original_key is not None else None,
            "value_hex": self.original_value.hex() if self.original_value is not None else None,
            "value": decoded,
            "value_problem": problem,
            "headers": [
                {"key": k, "value": _text(v), "value_hex": v.hex()}
                for k, v in self.original_headers
            ],
        }

    def release_record(self) -> OutgoingRecord:
        """The original record unchanged, with ``af-released-from`` naming this entry."""
        if self.record is None:
            raise SdkError(f"{self.ref} is not a readable quarantine record: {self.problem}")
        headers = tuple((k, v) for k, v in self.original_headers if k != RELEASED_FROM_HEADER)
        headers += ((RELEASED_FROM_HEADER, self.ref.encode()),)
        return OutgoingRecord(
            key=self.original_key or b"",
            value=self.original_value or b"",
            headers=headers,
            event_id=self._get("event_id"),
            workflow_id=_text(self.original_key),
        )

    def content_type(self) -> ContentType:
        """``json`` if the original record said so, else ``avro``."""
        try:
            media = media_type(content_type_header(self.original_headers))
        except UnicodeDecodeError:
            return "avro"
        return "json" if media == CONTENT_TYPE_JSON else "avro"


def _entry(msg: Any) -> QuarantineEntry:
    headers = dict(msg.headers() or [])
    reason = headers.get(REASON_HEADER)
    base = {
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "timestamp_ms": msg.timestamp()[1],
        "reason_header": reason.decode("utf-8", "replace") if reason else None,
    }
    try:
        return QuarantineEntry(record=read_quarantine(msg.value() or b""), **base)
    except EventError as exc:
        return QuarantineEntry(record=None, problem=f"{exc.reason}: {exc.detail}", **base)


def read_entries(
    config: Mapping[str, Any], topic: str, since_ms: int | None = None, timeout: float = 60.0
) -> Iterator[QuarantineEntry]:
    """Every committed quarantine record of ``topic`` up to its end offsets now;
    ``since_ms`` skips ahead by record timestamp."""
    for msg in read_topic(config, topic, since_ms, timeout):
        yield _entry(msg)


def fetch_entry(
    config: Mapping[str, Any], topic: str, partition: int, offset: int
) -> QuarantineEntry:
    """The quarantine record at ``partition:offset``; raises :class:`SdkError` if none."""
    return _entry(fetch_message(config, topic, partition, offset))
