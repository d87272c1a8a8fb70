"""Quarantine records: a rejected record's original bytes and headers, untouched, plus why.

The value is an Avro ``agentflow.internal.QuarantineRecord`` in single-object encoding
(``avro_schemas/internal/quarantine_record.avsc``); the Kafka key is the original key, and an
``af-reason`` header repeats the reason code so tools can filter without decoding.
"""

from __future__ import annotations

from typing import Any

from processors.contract import Context, Emit, Record
from processors.events import QUARANTINE_RECORD, decode_record, encode_record
from processors.roles import QUARANTINE_ROLE

REASON_HEADER = "af-reason"
ORIGIN_HEADER = "af-quarantined-by"
_MAX_DETAIL = 2000


def quarantine_emit(
    record: Record,
    reason: str,
    detail: str,
    ctx: Context,
    origin: str,
    event_id: str | None = None,
    tenant: str | None = None,
) -> Emit:
    """The quarantine record for ``record``, keyed by its original key."""
    body = {
        "original_key": record.key,
        "original_value": record.value,
        "original_headers": [{"key": k, "value": v} for k, v in record.headers],
        "original_topic": ctx.deployment.topics.get(record.role, record.role),
        "original_partition": record.partition,
        "original_offset": record.offset,
        "reason": reason,
        "detail": detail[:_MAX_DETAIL],
        "quarantined_by": origin,
        "quarantined_at": ctx.now_ms,
        "event_id": event_id,
        "tenant": tenant,
    }
    return Emit(
        role=QUARANTINE_ROLE,
        key=record.key,
        value=encode_record(QUARANTINE_RECORD, body),
        headers=((REASON_HEADER, reason.encode()), (ORIGIN_HEADER, origin.encode())),
        tag=reason,
    )


def read_quarantine(value: bytes) -> dict[str, Any]:
    """Decode a quarantine record's value into a dict (raises ``EventDecodeError``)."""
    _, datum = decode_record(value)
    return datum
