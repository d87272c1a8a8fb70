"""The wire format is the Avro spec's, checked against independent implementations.

* CRC-64-AVRO: a bit-at-a-time implementation written here from the spec, the spec's test
  vectors (``share/test/data/schema-tests.txt`` in apache/avro), the Apache ``avro`` library
  and fastavro all agree with ours.
* Parsing Canonical Form: ours equals the Apache ``avro`` library's (normalized, see below).
* Single-object bytes: ``C3 01`` + fingerprint, and the body decodes with the Apache ``avro``
  library's DatumReader using the ``.avsc`` files as that library parses them.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import avro.io
import avro.schema
import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint

from agentflow.testing import sample_events
from avro_schemas import SCHEMA_DIR
from processors.events import (
    QUARANTINE_RECORD,
    Envelope,
    crc64_avro,
    default_registry,
    encode,
    encode_record,
    schema_fingerprint,
)
from processors.events.registry import SchemaEntry

REG = default_registry()
SAMPLES = sample_events()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# (canonical form, fingerprint as Java's signed long) from the Avro spec's test data.
SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"long"', -3434872931120570953),
    ('"string"', -8142146995180207161),
    ("[]", -1241056759729112623),
    ('["int","boolean"]', 5392556393470105090),
    ('{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ('{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771),
    ('{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', -4448647247586288245),
    ('{"type":"map","values":"string"}', -8732877298790414990),
    (
        '{"name":"PigValue","type":"record","fields":[{"name":"value","type":'
        '["null","int","long","PigValue"]}]}',
        -1759257747318642341,
    ),
]


def crc64_bitwise(data: bytes) -> int:
    """CRC-64-AVRO one bit at a time (reflected polynomial = the spec's EMPTY constant)."""
    poly = 0xC15D213AA4D7A795
    fp = poly
    for byte in data:
        fp ^= byte
        for _ in range(8):
            fp = (fp >> 1) ^ (poly if fp & 1 else 0)
    return fp


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


@pytest.mark.parametrize(("canonical", "expected"), SPEC_VECTORS)
def test_crc64_matches_spec_vectors(canonical: str, expected: int) -> None:
    data = canonical.encode()
    assert _signed(crc64_avro(data)) == expected
    assert _signed(crc64_bitwise(data)) == expected
    assert avro.schema.parse(canonical).fingerprint() == expected.to_bytes(8, "little", signed=True)


def _avro_names() -> Any:
    names = avro.schema.Names()  # type: ignore[attr-defined]
    pending = sorted((SCHEMA_DIR / "common").glob("*.avsc"))
    while pending:  # load common types in dependency order
        progressed = False
        for path in list(pending):
            before = set(names.names)
            try:
                avro.schema.make_avsc_object(json.loads(path.read_text()), names)
            except avro.errors.SchemaParseException:
                for name in set(names.names) - before:  # forget a half-parsed attempt
                    del names.names[name]
                continue
            pending.remove(path)
            progressed = True
        assert progressed, f"unresolvable common types: {pending}"
    return names


def apache_schema(entry: SchemaEntry) -> avro.schema.Schema:
    """The entry's .avsc as the Apache avro library parses it (common types by name)."""
    return avro.schema.make_avsc_object(
        json.loads((SCHEMA_DIR / entry.path).read_text()), _avro_names()
    )


def _normalize_pcf(node: Any) -> Any:
    # avro-python writes a logical-typed primitive as {"type":"long"}; the spec's [PRIMITIVES]
    # rule (and Java) makes it "long". Apply that rule; nothing else is changed.
    if isinstance(node, list):
        return [_normalize_pcf(n) for n in node]
    if isinstance(node, dict):
        if set(node) == {"type"} and isinstance(node["type"], str):
            return node["type"]
        return {k: _normalize_pcf(v) for k, v in node.items()}
    return node


@pytest.mark.parametrize("entry", list(REG), ids=lambda e: e.path)
def test_canonical_form_and_fingerprint_are_independent_of_us(entry: SchemaEntry) -> None:
    apache = apache_schema(entry)
    pcf = json.dumps(_normalize_pcf(json.loads(apache.canonical_form)), separators=(",", ":"))
    assert entry.canonical_form == pcf
    expected = crc64_bitwise(pcf.encode()).to_bytes(8, "little")
    assert entry.fingerprint == expected == schema_fingerprint(pcf)
    assert avro.schema.parse(pcf).fingerprint("CRC-64-AVRO") == expected
    assert fastavro_fingerprint(pcf, "CRC-64-AVRO") == expected.hex()


def _plain(value: Any) -> Any:
    """Apache avro returns timestamp-millis as datetimes; turn them back into epoch millis."""
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def apache_decode(data: bytes, entry: SchemaEntry) -> Any:
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == entry.fingerprint
    body = io.BytesIO(data[10:])
    schema = apache_schema(entry)
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(body))
    assert body.tell() == len(data) - 10, "Apache avro must consume the whole body"
    return _plain(datum)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_apache_avro_decodes_our_events(event: Envelope) -> None:
    entry = REG.event(event.event_type, event.schema_version)
    assert entry is not None
    data = encode(event)
    assert data.startswith(b"\xc3\x01" + entry.fingerprint)
    assert apache_decode(data, entry) == event.model_dump()


def test_apache_avro_decodes_our_quarantine_record() -> None:
    record = {
        "original_key": b"wf-1",
        "original_value": b"\xc3\x01\x00garbage",
        "original_headers": [
            {"key": "content-type", "value": b"application/avro"},
            {"key": "af-signature", "value": None},
        ],
        "original_topic": "agentflow.ingress",
        "original_partition": 3,
        "original_offset": 1234567,
        "reason": "unknown_schema",
        "detail": "unknown schema fingerprint 00676172",
        "quarantined_by": "1",
        "quarantined_at": 1718000000123,
        "event_id": None,
        "tenant": "acme",
    }
    entry = REG.record(QUARANTINE_RECORD)
    assert entry is not None
    assert apache_decode(encode_record(QUARANTINE_RECORD, record), entry) == record


def test_apache_avro_written_bytes_decode_with_us() -> None:
    """The other direction: a body written by Apache avro, framed by hand, decodes with us."""
    from processors.events import decode

    event = SAMPLES[0]
    entry = REG.event(event.event_type, event.schema_version)
    assert entry is not None
    buf = io.BytesIO()
    datum = event.model_dump()
    datum["occurred_at"] = EPOCH + timedelta(milliseconds=datum["occurred_at"])
    avro.io.DatumWriter(apache_schema(entry)).write(datum, avro.io.BinaryEncoder(buf))
    assert decode(b"\xc3\x01" + entry.fingerprint + buf.getvalue()) == event
