"""Parsing in ``produce`` and ``quarantine``, and quarantine entries, without a broker."""

from __future__ import annotations

import json

import pytest

from agentflow.cli.produce_cmd import parse_events
from agentflow.cli.quarantine_cmd import parse_position, parse_time
from agentflow.errors import UserError
from agentflow.sdk.quarantine import RELEASED_FROM_HEADER, QuarantineEntry, iso_ms
from processors.contract import Context, Record
from processors.deployment import Deployment
from processors.quarantine import quarantine_emit, read_quarantine


def test_parse_events_reads_an_array_an_object_and_json_lines() -> None:
    assert parse_events('[{"a": 1}, {"a": 2}]', "f") == [
        ("event at index 0", {"a": 1}),
        ("event at index 1", {"a": 2}),
    ]
    assert parse_events('{\n "a": 1\n}', "f") == [("event at index 0", {"a": 1})]
    assert parse_events('{"a": 1}\n\n{"a": 2}\n', "f") == [
        ("event at index 0 (line 1)", {"a": 1}),
        ("event at index 1 (line 3)", {"a": 2}),
    ]


def test_parse_events_names_the_bad_line() -> None:
    with pytest.raises(UserError, match=r"^f line 2 is not JSON"):
        parse_events('{"a": 1}\n{"a": \n', "f")
    with pytest.raises(UserError, match="holds no events"):
        parse_events("  \n", "f")


def test_parse_position_and_time() -> None:
    assert parse_position("2:17") == (2, 17)
    assert parse_position("t.agentflow.quarantine:3:0") == (3, 0)
    with pytest.raises(UserError, match="PARTITION:OFFSET"):
        parse_position("2-17")
    assert parse_time("1718000000000", "--since") == 1_718_000_000_000
    assert parse_time("2024-06-10T06:13:20Z", "--since") == 1_718_000_000_000
    assert parse_time("2024-06-10T06:13:20", "--since") == 1_718_000_000_000  # naive = UTC
    with pytest.raises(UserError, match="--until wants epoch milliseconds or ISO-8601"):
        parse_time("yesterday", "--until")
    assert iso_ms(1_718_000_000_123) == "2024-06-10T06:13:20.123Z"


def quarantined(headers: tuple[tuple[str, bytes], ...]) -> QuarantineEntry:
    record = Record("ingress", 1, 41, b"wf-1", b'{"x": 1}', headers)
    ctx = Context(1_718_000_000_000, 1, Deployment("agentflow", 4, {"ingress": "in"}))
    emit = quarantine_emit(record, "stale_event", "too old", ctx, "gate/1", "e-1", "acme")
    assert emit.value is not None
    return QuarantineEntry("q", 2, 7, 0, read_quarantine(emit.value))


def test_a_quarantine_entry_summarises_its_record() -> None:
    entry = quarantined((("content-type", b"application/json"),))
    assert entry.summary() == {
        "partition": 2,
        "offset": 7,
        "reason": "stale_event",
        "detail": "too old",
        "event_id": "e-1",
        "tenant": "acme",
        "workflow_id": "wf-1",
        "quarantined_at": "2024-06-10T06:13:20.000Z",
        "quarantined_at_ms": 1_718_000_000_000,
        "original_topic": "in",
        "original_partition": 1,
        "original_offset": 41,
        "quarantined_by": "gate/1",
    }
    details = entry.details()
    assert details["value_hex"] == b'{"x": 1}'.hex()
    assert details["value"] == {"x": 1}  # not an event, but JSON
    assert details["value_problem"].startswith("missing_field")
    assert entry.content_type() == "json"
    json.dumps(details)


def test_release_keeps_the_bytes_and_names_the_quarantine_record_once() -> None:
    old = (RELEASED_FROM_HEADER, b"q:0:1")
    entry = quarantined((("af-key-id", b"k"), old, ("af-signature", b"ab")))
    record = entry.release_record()
    assert (record.key, record.value) == (b"wf-1", b'{"x": 1}')
    assert record.headers == (
        ("af-key-id", b"k"),
        ("af-signature", b"ab"),
        (RELEASED_FROM_HEADER, b"q:2:7"),
    )
