"""Bad input of any kind raises EventDecodeError with the right reason, and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow.testing import sample_events
from processors.events import (
    DECODE_REASONS,
    QUARANTINE_RECORD,
    Envelope,
    EventDecodeError,
    decode,
    decode_json,
    decode_record,
    decode_value,
    default_registry,
    encode,
    encode_record,
)
from tests.unit.test_events_codec import quarantine

SAMPLES = sample_events()
HEADERS = [e.header for e in default_registry()]
TICKET = SAMPLES[0]
TICKET_BYTES = encode(TICKET)
TICKET_JSON: dict[str, Any] = json.loads(TICKET.model_dump_json())
DELETE = object()


def reason_of(fn: Callable[[bytes], object], data: bytes) -> str:
    with pytest.raises(EventDecodeError) as err:
        fn(data)
    assert err.value.reason in DECODE_REASONS
    assert isinstance(err.value, ValueError)
    return err.value.reason


def with_json(**changes: Any) -> bytes:
    doc = json.loads(json.dumps(TICKET_JSON))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = doc
        for p in parents:
            node = node[p]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "undecodable"),
        (b"\xc3", "undecodable"),
        (b"\xc3\x01\x00\x00", "undecodable"),
        (b"\x00\x01" + TICKET_BYTES[2:], "undecodable"),
        (b'{"event_type": "ticket.created"}', "undecodable"),
        (b"\xc3\x01" + b"\x00" * 8 + b"\x02", "unknown_schema"),
        (TICKET_BYTES + b"\x00", "undecodable"),
        (encode_record(QUARANTINE_RECORD, quarantine()), "unknown_event_type"),
    ],
)
def test_decode_bad_bytes(data: bytes, reason: str) -> None:
    assert reason_of(decode, data) == reason


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_truncation_is_undecodable(event: Envelope) -> None:
    data = encode(event)
    for cut in range(len(data)):
        assert reason_of(decode, data[:cut]) == "undecodable"


def test_invalid_utf8_in_a_string_is_undecodable() -> None:
    i = TICKET_BYTES.index(b"evt-0001")
    assert reason_of(decode, TICKET_BYTES[:i] + b"\xff" + TICKET_BYTES[i + 1 :]) == "undecodable"


def test_avro_data_that_breaks_the_model_is_schema_invalid() -> None:
    i = TICKET_BYTES.index(b"wf-acme-1001")  # newline in workflow_id: not a valid key
    data = TICKET_BYTES[:i] + b"wf-acme-100\n" + TICKET_BYTES[i + 12 :]
    assert reason_of(decode, data) == "schema_invalid"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "undecodable"),
        (b"{", "undecodable"),
        (b"\xff\xfe", "undecodable"),
        (b"[]", "undecodable"),
        (b"null", "undecodable"),
        (b'"ticket.created"', "undecodable"),
        (b"[" * 100_000, "undecodable"),
        (with_json(occurred_at=float("nan")), "undecodable"),
        (with_json(event_type=DELETE), "missing_field"),
        (with_json(schema_version=DELETE), "missing_field"),
        (with_json(event_type="ticket.exploded"), "unknown_event_type"),
        (with_json(schema_version=9), "unknown_schema_version"),
        (with_json(schema_version="1"), "schema_invalid"),
        (with_json(schema_version=True), "schema_invalid"),
        (with_json(event_type=7), "schema_invalid"),
        (with_json(payload__subject=DELETE), "missing_field"),
        (with_json(actor__id=DELETE), "missing_field"),
        (with_json(payload=DELETE), "missing_field"),
        (with_json(payload__subject=5), "schema_invalid"),
        (with_json(payload__tags="billing"), "schema_invalid"),
        (with_json(payload__surprise=1), "schema_invalid"),
        (with_json(extra=1), "schema_invalid"),
        (with_json(actor__kind="robot"), "schema_invalid"),
        (with_json(occurred_at="last tuesday"), "schema_invalid"),
        (with_json(occurred_at="2024-06-10T06:13:20"), "schema_invalid"),
        (with_json(occurred_at=2**63), "schema_invalid"),
        (with_json(occurred_at=1.5), "schema_invalid"),
        (with_json(workflow_id=""), "schema_invalid"),
        (with_json(causation_id=5), "schema_invalid"),
    ],
)
def test_decode_json_bad_input(data: bytes, reason: str) -> None:
    assert reason_of(decode_json, data) == reason


def test_decode_json_checks_the_approval_decision() -> None:
    granted = next(e for e in SAMPLES if e.event_type == "approval.granted")
    doc = json.loads(granted.model_dump_json())
    doc["payload"]["decision"] = "denied"
    assert reason_of(decode_json, json.dumps(doc).encode()) == "schema_invalid"


def test_decode_value_refuses_other_content_types() -> None:
    for content_type in ("text/plain", b"application/x-protobuf", b"\xff"):
        with pytest.raises(EventDecodeError) as err:
            decode_value(TICKET_BYTES, content_type)
        assert err.value.reason == "unsupported_content_type"


def test_decode_record_bad_input() -> None:
    assert reason_of(decode_record, b"nope") == "undecodable"
    assert reason_of(decode_record, b"\xc3\x01" + b"\x01" * 8) == "unknown_schema"


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_decode_errors(fn: Callable[[bytes], object], data: bytes) -> None:
    try:
        fn(data)
    except EventDecodeError as err:
        assert err.reason in DECODE_REASONS


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    for fn in (decode, decode_json, decode_record):
        _only_decode_errors(fn, data)


@FUZZ
@given(st.sampled_from(HEADERS), st.binary(max_size=300))
def test_random_bodies_behind_a_known_header(header: bytes, body: bytes) -> None:
    _only_decode_errors(decode, header + body)
    _only_decode_errors(decode_record, header + body)


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_corrupted_events(event: Envelope, data: st.DataObject) -> None:
    raw = bytearray(encode(event))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(10, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    _only_decode_errors(decode, bytes(raw))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@FUZZ
@given(st.text(max_size=200))
def test_random_json_text(text: str) -> None:
    _only_decode_errors(decode_json, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.sampled_from(SAMPLES), st.sampled_from(["", "actor", "payload"]), st.data())
def test_json_with_a_random_value_in_a_field(event: Envelope, where: str, data: Any) -> None:
    doc = json.loads(event.model_dump_json())
    node = doc[where] if where else doc
    field = data.draw(st.sampled_from([*node.keys(), "surprise"]))
    node[field] = data.draw(JSON_VALUES)
    _only_decode_errors(decode_json, json.dumps(doc).encode())
