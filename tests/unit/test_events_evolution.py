"""Schema evolution: ticket.created v2 adds ``priority`` (default "normal").

Avro schema resolution both ways, with fastavro and with the Apache avro library: a v1 reader
reads v2 data (the new field is dropped) and a v2 reader reads v1 data (the default fills in).
"""

from __future__ import annotations

import io
from typing import Any

import avro.io
from fastavro import schemaless_reader

from agentflow.testing import sample_events
from processors.events import decode, default_registry, encode
from processors.events.registry import SchemaEntry
from tests.unit.test_events_wire import apache_schema

REG = default_registry()
V1 = REG.event("ticket.created", 1)
V2 = REG.event("ticket.created", 2)
SAMPLES = {type(e).__name__: e for e in sample_events()}


def _entries() -> tuple[SchemaEntry, SchemaEntry]:
    assert V1 is not None and V2 is not None
    return V1, V2


def _fastavro_resolve(data: bytes, writer: SchemaEntry, reader: SchemaEntry) -> Any:
    return schemaless_reader(io.BytesIO(data[10:]), writer.wire_schema, reader.wire_schema)


def _apache_resolve(data: bytes, writer: SchemaEntry, reader: SchemaEntry) -> Any:
    datum_reader = avro.io.DatumReader(apache_schema(writer), apache_schema(reader))
    return datum_reader.read(avro.io.BinaryDecoder(io.BytesIO(data[10:])))


def test_v1_reader_reads_v2_data() -> None:
    v1, v2 = _entries()
    event = SAMPLES["TicketCreatedV2"]
    data = encode(event)
    assert data[2:10] == v2.fingerprint
    for resolve in (_fastavro_resolve, _apache_resolve):
        got = resolve(data, v2, v1)
        assert "priority" not in got["payload"]
        expected = event.model_dump()
        del expected["payload"]["priority"]
        assert got["payload"] == expected["payload"]
        assert got["schema_version"] == 2  # resolution does not rewrite the envelope


def test_v2_reader_reads_v1_data_with_the_default() -> None:
    v1, v2 = _entries()
    event = SAMPLES["TicketCreatedV1"]
    data = encode(event)
    for resolve in (_fastavro_resolve, _apache_resolve):
        got = resolve(data, v1, v2)
        assert got["payload"]["priority"] == "normal"
        assert {k: v for k, v in got["payload"].items() if k != "priority"} == (
            event.model_dump()["payload"]
        )


def test_decode_returns_the_writers_version() -> None:
    for name in ("TicketCreatedV1", "TicketCreatedV2"):
        event = SAMPLES[name]
        assert type(decode(encode(event))).__name__ == name
