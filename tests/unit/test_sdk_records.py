"""The SDK's pure part: events from dicts, validation, encoding and signing (no Kafka)."""

from __future__ import annotations

import json

import pytest

from agentflow.sdk import InvalidEventError, Signer, build_record, check_event, event_from_dict
from agentflow.testing import sample_events
from processors.events import (
    KeyRing,
    TicketCreatedV1,
    TimerFiredV1,
    decode,
    decode_json,
)

KEYS = KeyRing.from_mapping(
    {"zendesk": {"zd-1": "secret-1", "zd-2": "secret-2"}, "ops": {"ops-1": "secret-ops"}},
    revoked=["zd-2"],
)


def ticket() -> TicketCreatedV1:
    event = sample_events()[0]
    assert isinstance(event, TicketCreatedV1)
    return event


def test_event_from_dict_builds_the_class_named_by_type_and_version() -> None:
    event = event_from_dict(ticket().model_dump(mode="json"))
    assert type(event) is TicketCreatedV1
    assert event == ticket()


def test_event_from_dict_accepts_rfc3339_timestamps_and_fills_defaults() -> None:
    data = ticket().model_dump(mode="json")
    data["occurred_at"] = "2024-06-10T06:14:20Z"
    del data["causation_id"]
    event = event_from_dict(data)
    assert event.occurred_at == 1_718_000_060_000
    assert event.causation_id is None


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        ({"event_type": None}, "missing_field", "event_type"),
        ({"event_type": "ticket.exploded"}, "unknown_event_type", "ticket.exploded"),
        ({"schema_version": 9}, "unknown_schema_version", "no ticket.created v9"),
        ({"colour": "red"}, "schema_invalid", "unknown field(s) colour"),
        ({"workflow_id": ""}, "schema_invalid", "workflow_id"),
        ({"tenant": 7}, "schema_invalid", "tenant: expected string"),
    ],
)
def test_event_from_dict_names_the_problem(
    change: dict[str, object], reason: str, words: str
) -> None:
    data = ticket().model_dump(mode="json") | change
    data = {k: v for k, v in data.items() if v is not None or k == "causation_id"}
    with pytest.raises(InvalidEventError) as err:
        event_from_dict(data)
    assert err.value.reason == reason
    assert words in str(err.value)
    assert err.value.event_id == "evt-0001"


def test_a_model_constructed_invalid_event_is_refused() -> None:
    bad = TicketCreatedV1.model_construct(**{**dict(ticket()), "workflow_id": "a\nb"})
    with pytest.raises(InvalidEventError) as err:
        check_event(bad)
    assert err.value.reason == "schema_invalid"
    assert "workflow_id" in err.value.detail


def test_engine_only_event_types_are_refused() -> None:
    timer = next(e for e in sample_events() if isinstance(e, TimerFiredV1))
    with pytest.raises(InvalidEventError) as err:
        build_record(timer, Signer(KEYS))
    assert err.value.reason == "reserved_event_type"


def test_avro_record_is_keyed_by_workflow_id_signed_and_decodes_back() -> None:
    record = build_record(ticket(), Signer(KEYS))
    assert record.key == b"wf-acme-1001"
    assert [k for k, _ in record.headers] == ["content-type", "af-key-id", "af-signature"]
    headers = dict(record.headers)
    assert headers["content-type"] == b"application/avro"
    assert headers["af-key-id"] == b"zd-1"  # the first live key; zd-2 is revoked
    verdict = KEYS.verify("zendesk", b"zd-1", record.key, record.value, headers["af-signature"])
    assert verdict is None
    assert decode(record.value) == ticket()
    assert (record.event_id, record.workflow_id) == ("evt-0001", "wf-acme-1001")


def test_json_record_carries_the_envelope_as_json() -> None:
    record = build_record(ticket(), Signer(KEYS), "json", [("x-extra", b"1")])
    headers = dict(record.headers)
    assert headers["content-type"] == b"application/json"
    assert headers["x-extra"] == b"1"
    assert json.loads(record.value)["event_id"] == "evt-0001"
    assert decode_json(record.value) == ticket()
    assert (
        KEYS.verify("zendesk", b"zd-1", record.key, record.value, headers["af-signature"]) is None
    )


@pytest.mark.parametrize(
    ("signer", "reason"),
    [
        (Signer(KEYS, "ops-1"), "key_not_for_source"),
        (Signer(KEYS, "nope"), "unknown_key_id"),
        (Signer(KEYS, "zd-2"), "key_revoked"),
        (Signer(KeyRing.from_mapping({"ops": {"ops-1": "s"}})), "no_signing_key"),
        (Signer.from_secret("zd-9", "s", source="ops"), "key_not_for_source"),
    ],
)
def test_a_record_that_cannot_be_signed_is_refused(signer: Signer, reason: str) -> None:
    with pytest.raises(InvalidEventError) as err:
        build_record(ticket(), signer)
    assert err.value.reason == reason


def test_a_bare_secret_signs_for_any_source_with_its_key_id() -> None:
    record = build_record(ticket(), Signer.from_secret("zd-1", "secret-1"))
    headers = dict(record.headers)
    assert headers["af-key-id"] == b"zd-1"
    assert (
        KEYS.verify("zendesk", b"zd-1", record.key, record.value, headers["af-signature"]) is None
    )
