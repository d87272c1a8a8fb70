"""Round trips: every event type through Avro and JSON, and internal records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentflow.testing import T0, sample_events
from agentflow.testing.samples import minimal_event
from processors.events import (
    CONTENT_TYPE_JSON,
    EVENT_CLASSES,
    QUARANTINE_RECORD,
    Actor,
    ApprovalDecision,
    ApprovalGrantedV1,
    Envelope,
    EventDecodeError,
    EventEncodeError,
    JobCompletedV1,
    TicketCreatedPayloadV1,
    TicketCreatedV1,
    TicketCreatedV2,
    TimerFiredV1,
    decode,
    decode_json,
    decode_record,
    decode_value,
    default_registry,
    encode,
    encode_record,
    parse_timestamp_millis,
)

SAMPLES = sample_events()


def quarantine(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "original_key": None,
        "original_value": b"{not json",
        "original_headers": [{"key": "content-type", "value": b"application/json"}],
        "original_topic": "agentflow.ingress",
        "original_partition": 0,
        "original_offset": 42,
        "reason": "undecodable",
        "detail": "not JSON: JSONDecodeError",
        "quarantined_by": "2024.6.1",
        "quarantined_at": T0,
        "event_id": None,
        "tenant": None,
    }
    record.update(overrides)
    return record


def test_samples_cover_every_event_class() -> None:
    assert tuple(type(e) for e in SAMPLES) == EVENT_CLASSES


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_avro_round_trip(event: Envelope) -> None:
    data = encode(event)
    back = decode(data)
    assert type(back) is type(event)
    assert back == event
    assert encode(back) == data  # deterministic


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_json_round_trip(event: Envelope) -> None:
    assert decode_json(event.model_dump_json().encode()) == event
    assert decode_value(event.model_dump_json().encode(), CONTENT_TYPE_JSON.encode()) == event


@pytest.mark.parametrize("content_type", [None, b"application/avro", "Application/Avro; v=1"])
def test_decode_value_reads_avro(content_type: str | bytes | None) -> None:
    assert decode_value(encode(SAMPLES[0]), content_type) == SAMPLES[0]


def test_json_accepts_rfc3339_and_fills_defaults() -> None:
    doc = {
        "event_id": "wh-1",
        "event_type": "ticket.created",
        "schema_version": 1,
        "occurred_at": "2024-06-10T08:13:20.250+02:00",
        "source": "zendesk",
        "tenant": "acme",
        "actor": {"id": "cust-1", "kind": "user"},
        "workflow_id": "wf-1",
        "payload": {"ticket_id": "T-1", "subject": "s", "body": "b", "customer_id": "c"},
    }
    event = decode_json(json.dumps(doc).encode())
    assert isinstance(event, TicketCreatedV1)
    assert event.occurred_at == T0 + 250
    assert event.causation_id is None and event.actor.roles == []
    assert event.payload.tags == [] and event.payload.customer_email is None
    v2 = decode_json(json.dumps({**doc, "schema_version": 2}).encode())
    assert v2.payload.priority == "normal"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("2024-06-10T06:13:20Z", T0),
        ("2024-06-10T06:13:20.001Z", T0 + 1),
        ("2024-06-10t06:13:20+00:00", T0),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_parse_timestamp_millis(text: str, millis: int) -> None:
    assert parse_timestamp_millis(text) == millis
    assert parse_timestamp_millis(millis) == millis


@pytest.mark.parametrize("bad", ["2024-06-10T06:13:20", "2024-06-10", "yesterday", 1.5, True])
def test_parse_timestamp_millis_refuses(bad: object) -> None:
    with pytest.raises(EventDecodeError) as err:
        parse_timestamp_millis(bad)
    assert err.value.reason == "schema_invalid"


def test_key_is_the_workflow_id() -> None:
    assert SAMPLES[0].key == b"wf-acme-1001"


def test_event_type_and_version_default_from_the_class() -> None:
    event = TicketCreatedV1(
        event_id="e",
        occurred_at=0,
        source="s",
        tenant="t",
        actor=Actor(id="a", kind="system"),
        workflow_id="w",
        payload=TicketCreatedPayloadV1(ticket_id="t", subject="s", body="b", customer_id="c"),
    )
    assert (event.event_type, event.schema_version) == ("ticket.created", 1)
    assert TicketCreatedV1.schema_key() == ("ticket.created", 1)


def test_approval_decision_must_match_event_type() -> None:
    granted = next(e for e in SAMPLES if isinstance(e, ApprovalGrantedV1))
    denied = ApprovalDecision.model_validate({**granted.payload.model_dump(), "decision": "denied"})
    with pytest.raises(ValueError, match="decision 'granted'"):
        ApprovalGrantedV1.model_validate({**granted.model_dump(), "payload": denied})


def test_quarantine_record_round_trip() -> None:
    record = quarantine(original_key=b"\x00\xff", event_id="evt-1", tenant="acme")
    data = encode_record(QUARANTINE_RECORD, record)
    entry = default_registry().record(QUARANTINE_RECORD)
    assert entry is not None and data.startswith(entry.header)
    assert decode_record(data) == (QUARANTINE_RECORD, record)


def test_decode_record_reads_events_as_dicts() -> None:
    name, datum = decode_record(encode(SAMPLES[0]))
    assert name == "agentflow.events.TicketCreated"
    assert datum == SAMPLES[0].model_dump()


@pytest.mark.parametrize(
    "bad",
    [
        {"original_partition": 2**31},
        {"original_offset": "42"},
        {"reason": None},
        {"unexpected": 1},
    ],
)
def test_encode_record_refuses_bad_records(bad: dict[str, Any]) -> None:
    with pytest.raises(EventEncodeError) as err:
        encode_record(QUARANTINE_RECORD, quarantine(**bad))
    assert err.value.reason == "schema_invalid"


def test_encode_record_refuses_a_missing_field() -> None:
    record = quarantine()
    del record["detail"]
    with pytest.raises(EventEncodeError) as err:
        encode_record(QUARANTINE_RECORD, record)
    assert err.value.reason == "schema_invalid"


def test_encode_refuses_unknown_schemas() -> None:
    with pytest.raises(EventEncodeError) as err:
        encode_record("agentflow.internal.Nope", {})
    assert err.value.reason == "unknown_schema"
    with pytest.raises(EventEncodeError) as err:
        encode_record("agentflow.events.TicketCreated", SAMPLES[0].model_dump())
    assert err.value.reason == "unknown_schema"  # events go through encode()


def test_encode_refuses_an_unvalidated_model() -> None:
    junk = TicketCreatedV1.model_construct(**{**SAMPLES[0].__dict__, "occurred_at": "soon"})
    with pytest.raises(EventEncodeError) as err:
        encode(junk)
    assert err.value.reason == "schema_invalid"


@pytest.mark.parametrize("bad", [{"original_partition": 2**31}, {"reason": None}, {"event_id": 7}])
def test_encode_record_details_are_fastavros_own_message(bad: dict[str, Any]) -> None:
    # The check validates without building error messages first; a refused record still
    # carries the message fastavro's raising validation gives.
    from fastavro.validation import ValidationError, validate

    record = quarantine(**bad)
    entry = default_registry().record(QUARANTINE_RECORD)
    assert entry is not None
    with pytest.raises(ValidationError) as expected:
        validate(record, entry.wire_schema, raise_errors=True, strict=True)
    with pytest.raises(EventEncodeError) as err:
        encode_record(QUARANTINE_RECORD, record)
    assert err.value.detail == f"{entry.name}: {expected.value}"[:500]


@pytest.mark.parametrize("cls", [TicketCreatedV2, JobCompletedV1, TimerFiredV1])
def test_minimal_events_from_the_schema_round_trip(cls: type[Envelope]) -> None:
    """What the test kit makes for an event type that has no written sample yet."""
    event = minimal_event(cls)
    assert type(event) is cls and decode(encode(event)) == event
