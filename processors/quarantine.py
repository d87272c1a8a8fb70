"""Quarantine records: a rejected record's original bytes and headers, untouched, plus why."""

from __future__ import annotations

import json

from processors.contract import Emit, Record

QUARANTINE_ROLE = "quarantine"
REASON_HEADER = "af-reason"


def quarantine_emit(record: Record, reason: str, detail: str, now_ms: int, origin: str) -> Emit:
    """The quarantine record for ``record``, keyed by its original key."""
    body = {
        "reason": reason,
        "detail": detail[:2000],
        "origin": origin,
        "quarantined_at": now_ms,
        "original_role": record.role,
        "original_partition": record.partition,
        "original_offset": record.offset,
        "original_key": record.key.hex() if record.key is not None else None,
        "original_value": record.value.hex() if record.value is not None else None,
        "original_headers": [[k, v.hex() if v is not None else None] for k, v in record.headers],
    }
    return Emit(
        role=QUARANTINE_ROLE,
        key=record.key,
        value=json.dumps(body).encode(),
        headers=((REASON_HEADER, reason.encode()),),
    )
