"""Gate.check: one test per check and reason code, the check order, and what is accepted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from processors.contract import Context
from processors.deployment import Deployment
from processors.events import (
    CONTENT_TYPE_AVRO,
    HEADER_CONTENT_TYPE,
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    Actor,
    Envelope,
    KeyRing,
    decode,
    decode_json,
    encode,
)
from processors.gate import GATE_REASONS, Accepted, Gate, Rejected, admit
from processors.quarantine import read_quarantine
from tests import gatekit as gk
from tests.gatekit import NOW_MS, PARTITIONS, Raw, event, signed

GATE = gk.make_gate()
TICKET = event("ticket.created", event_id="evt-t1", workflow_id="wf-acme-1001")
CTX = Context(NOW_MS, 0, Deployment("agentflow", PARTITIONS))


def check(raw: Raw, gate: Gate = GATE, now_ms: int = NOW_MS) -> Accepted | Rejected:
    return gate.check(raw.record(), now_ms)


def rejected(raw: Raw, gate: Gate = GATE, now_ms: int = NOW_MS) -> Rejected:
    outcome = check(raw, gate, now_ms)
    assert isinstance(outcome, Rejected), outcome
    assert outcome.reason in GATE_REASONS
    return outcome


def accepted(raw: Raw, gate: Gate = GATE, now_ms: int = NOW_MS) -> Accepted:
    outcome = check(raw, gate, now_ms)
    assert isinstance(outcome, Accepted), outcome
    return outcome


def json_with(ev: Envelope, **changes: Any) -> bytes:
    doc = json.loads(gk.to_json(ev))
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return json.dumps(doc).encode()


def gate_with(**sizes: int) -> Gate:
    data = gk.policy_data()
    data["sizes"] = {**data["sizes"], **sizes}
    return gk.make_gate(gk.make_policy(data))


# -- every good event ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", gk.GOOD_TYPES, ids=lambda k: f"{k[0]}.v{k[1]}")
def test_should_accept_every_event_type_signed_by_its_source(kind: tuple[str, int]) -> None:
    ev = event(*kind)
    assert accepted(signed(ev)).event == ev
    assert accepted(signed(ev, as_json=True)).event == ev


def test_should_pass_accepted_avro_through_as_the_original_bytes() -> None:
    for content_type in (None, b"application/avro", b"Application/AVRO ; v=1"):
        raw = signed(TICKET, content_type=content_type)
        out = accepted(raw)
        assert out.value is raw.value  # the very bytes that were signed, not a re-encoding
        assert out.event == TICKET


@pytest.mark.parametrize(
    "content_type",
    [None, b"application/avro", b"", b"\x1capplication/avro", b"application/avro\x1f; v=1"],
)
def test_should_pass_through_non_canonical_avro_for_every_avro_content_type(
    content_type: bytes | None,
) -> None:
    # A valid but non-minimal varint (the length of event_id as 8C 00, not 0C): re-encoding
    # would change the bytes, so only a true pass-through keeps the signed original.
    canonical = encode(TICKET)
    at = canonical.index(b"\x0cevt-t1")
    value = canonical[:at] + b"\x8c\x00" + canonical[at + 1 :]
    assert decode(value) == TICKET
    raw = signed(TICKET, value=value, content_type=content_type)
    assert accepted(raw).value == value


def test_should_reencode_accepted_json_as_avro_that_decodes_to_the_same_event() -> None:
    raw = signed(TICKET, as_json=True)
    out = accepted(raw)
    assert out.value != raw.value
    assert out.value[:2] == b"\xc3\x01"
    assert decode(out.value) == decode_json(raw.value or b"") == TICKET
    assert out.value == encode(TICKET)


def test_should_reencode_json_with_rfc3339_timestamps_to_epoch_millis() -> None:
    value = json_with(TICKET, occurred_at="2024-07-10T06:13:19+00:00")
    out = accepted(signed(TICKET, as_json=True, value=value), now_ms=1_720_591_999_000 + 5)
    assert decode(out.value).occurred_at == 1_720_591_999_000


def test_should_accept_both_live_key_ids_of_a_source_during_rotation() -> None:
    ring = gk.make_keyring(GATE.policy)
    assert ring.key_ids("helpdesk") == ("helpdesk-2026a", "helpdesk-2026b")
    for key_id in ring.key_ids("helpdesk"):
        assert accepted(signed(TICKET, key_id=key_id)).event == TICKET
        assert accepted(signed(TICKET, key_id=key_id, as_json=True)).event == TICKET


# -- too_large ---------------------------------------------------------------------------------


def test_should_refuse_a_key_over_the_size_limit_as_too_large() -> None:
    at_limit = event(workflow_id="w" * 256)
    assert accepted(signed(at_limit)).event == at_limit
    over = rejected(signed(event(workflow_id="w" * 257)))
    assert over.reason == "too_large"
    assert "key is 257 bytes" in over.detail


def test_should_refuse_a_value_over_the_size_limit_as_too_large() -> None:
    raw = signed(TICKET)
    size = len(raw.value or b"")
    assert accepted(raw, gate_with(max_value_bytes=size))
    out = rejected(raw, gate_with(max_value_bytes=size - 1))
    assert out.reason == "too_large"
    assert f"value is {size} bytes" in out.detail
    payload = TICKET.payload.model_copy(update={"body": "x" * 300_000})
    huge = TICKET.model_copy(update={"payload": payload})
    assert rejected(signed(huge)).reason == "too_large"  # the default limit, 256 KiB


def test_should_refuse_too_many_headers_as_too_large() -> None:
    base = signed(TICKET)
    padding = tuple((f"x-{i}", b"") for i in range(32 - len(base.headers)))
    assert accepted(Raw(base.key, base.value, base.headers + padding))
    out = rejected(Raw(base.key, base.value, (*base.headers, *padding, ("x-one-more", b""))))
    assert out.reason == "too_large"
    assert "33 headers" in out.detail


def test_should_refuse_headers_over_the_byte_limit_as_too_large() -> None:
    base = signed(TICKET)
    used = sum(len(k) + len(v or b"") for k, v in base.headers)
    fill = 8192 - used - len("x-pad")
    assert accepted(Raw(base.key, base.value, (*base.headers, ("x-pad", b"p" * fill))))
    out = rejected(Raw(base.key, base.value, (*base.headers, ("x-pad", b"p" * (fill + 1)))))
    assert out.reason == "too_large"
    assert "headers are 8193 bytes" in out.detail


def test_should_count_header_names_in_utf8_bytes_not_characters() -> None:
    base = signed(TICKET)
    name = "€" * 3000  # 3,000 characters, 9,000 bytes: over the 8 KiB header limit
    out = rejected(Raw(base.key, base.value, (*base.headers, (name, b""))))
    assert out.reason == "too_large"


def test_should_check_sizes_before_anything_else() -> None:
    out = rejected(Raw(None, b"\x00" * 300_000, ()))
    assert out.reason == "too_large"


# -- missing_key, decoding -------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, b""])
def test_should_refuse_a_record_without_key_as_missing_key(key: bytes | None) -> None:
    raw = signed(TICKET)
    assert rejected(Raw(key, raw.value, raw.headers)).reason == "missing_key"


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"hello",
        b"\xc3\x01",
        encode(TICKET)[:-4],
        encode(TICKET) + b"\x00",
        b"\x00\x01" + encode(TICKET)[2:],
    ],
    ids=["null", "empty", "text", "magic-only", "truncated", "trailing-byte", "bad-magic"],
)
def test_should_refuse_bytes_that_are_not_avro_as_undecodable(value: bytes | None) -> None:
    out = rejected(Raw(TICKET.key, value, gk.sign_headers("helpdesk-2026a", TICKET.key, value)))
    assert out.reason == "undecodable"
    assert out.event_id is None and out.tenant is None


@pytest.mark.parametrize("value", [b"{not json", b"[1, 2]", b'"ticket.created"', b"NaN"])
def test_should_refuse_json_that_is_not_an_object_as_undecodable(value: bytes) -> None:
    assert rejected(signed(TICKET, as_json=True, value=value)).reason == "undecodable"


@pytest.mark.parametrize(
    "content_type", [b"application/xml", b"text/plain", b"application/x-protobuf", b"\xff\xfe"]
)
def test_should_refuse_an_unreadable_content_type(content_type: bytes) -> None:
    out = rejected(signed(TICKET, content_type=content_type))
    assert out.reason == "unsupported_content_type"


def test_should_refuse_an_unknown_fingerprint_as_unknown_schema() -> None:
    value = encode(TICKET)
    raw = signed(TICKET, value=value[:2] + bytes(8) + value[10:])
    assert rejected(raw).reason == "unknown_schema"


def test_should_refuse_an_unknown_event_type_as_json_and_as_a_non_event_avro_record() -> None:
    as_json = signed(TICKET, as_json=True, value=json_with(TICKET, event_type="ticket.exploded"))
    assert rejected(as_json).reason == "unknown_event_type"
    not_an_event = signed(TICKET, value=gk.quarantine_record_value())
    assert rejected(not_an_event).reason == "unknown_event_type"


def test_should_refuse_a_known_type_at_an_unknown_version() -> None:
    raw = signed(TICKET, as_json=True, value=json_with(TICKET, schema_version=99))
    assert rejected(raw).reason == "unknown_schema_version"


@pytest.mark.parametrize("field", ["event_id", "event_type", "workflow_id", "payload", "actor"])
def test_should_refuse_json_without_a_required_field_as_missing_field(field: str) -> None:
    raw = signed(TICKET, as_json=True, value=json_with(TICKET, **{field: None}))
    assert rejected(raw).reason == "missing_field"


def test_should_refuse_data_that_breaks_the_schema_as_schema_invalid() -> None:
    for changes in (
        {"occurred_at": "yesterday"},
        {"schema_version": "1"},
        {"event_id": ""},
        {"actor": {"id": "u", "kind": "robot"}},
        {"unknown_field": 1},
    ):
        raw = signed(TICKET, as_json=True, value=json_with(TICKET, **changes))
        assert rejected(raw).reason == "schema_invalid", changes
    datum = TICKET.model_dump()
    for avro_changes in ({"event_id": ""}, {"event_type": "ticket.updated"}):
        value = gk.avro_raw("ticket.created", 2, {**datum, **avro_changes})
        assert rejected(signed(TICKET, value=value)).reason == "schema_invalid", avro_changes


def test_should_refuse_an_approval_granted_that_carries_a_denial_as_schema_invalid() -> None:
    granted = event("approval.granted")
    datum = granted.model_dump()
    datum["payload"] = {**datum["payload"], "decision": "denied"}
    value = gk.avro_raw("approval.granted", 1, datum)
    assert rejected(signed(granted, value=value)).reason == "schema_invalid"


# -- key, reserved types, source ---------------------------------------------------------------


def test_should_refuse_a_key_that_is_not_the_workflow_id_as_key_mismatch() -> None:
    out = rejected(signed(TICKET, key=b"wf-acme-9999"))
    assert out.reason == "key_mismatch"
    assert (out.event_id, out.tenant) == ("evt-t1", "acme")
    flipped = gk.flip(TICKET.key, 0)  # one byte of the key, re-signed or not
    assert rejected(signed(TICKET, key=flipped)).reason == "key_mismatch"


def test_should_refuse_timer_fired_from_outside_as_reserved_event_type() -> None:
    timer = event("timer.fired")
    assert timer.source == "agentflow-steps"  # a known source, validly signed
    for raw in (signed(timer), signed(timer, as_json=True)):
        assert rejected(raw).reason == "reserved_event_type"


def test_should_refuse_a_source_not_in_the_policy_as_unknown_source() -> None:
    rogue = TICKET.model_copy(update={"source": "rogue-crm"})
    out = rejected(signed(rogue, key_id="helpdesk-2026a"))
    assert out.reason == "unknown_source"
    assert "rogue-crm" in out.detail


# -- signatures ---------------------------------------------------------------------------------


def test_should_refuse_a_record_without_signature_as_signature_missing() -> None:
    raw = signed(TICKET)
    out = rejected(Raw(raw.key, raw.value, gk.without(raw.headers, HEADER_SIGNATURE)))
    assert out.reason == "signature_missing"


@pytest.mark.parametrize("key_id", [None, b""])
def test_should_refuse_a_record_without_key_id_as_key_id_missing(key_id: bytes | None) -> None:
    raw = signed(TICKET)
    headers = gk.without(raw.headers, HEADER_KEY_ID)
    if key_id is not None:
        headers += ((HEADER_KEY_ID, key_id),)
    assert rejected(Raw(raw.key, raw.value, headers)).reason == "key_id_missing"


@pytest.mark.parametrize("key_id", [b"nobody-1", b"\xff\xfe", b"HELPDESK-2026A"])
def test_should_refuse_an_unknown_key_id(key_id: bytes) -> None:
    raw = signed(TICKET)
    out = rejected(Raw(raw.key, raw.value, gk.replaced(raw.headers, HEADER_KEY_ID, key_id)))
    assert out.reason == "unknown_key_id"


def test_should_refuse_a_key_of_another_source_as_key_not_for_source() -> None:
    assert rejected(signed(TICKET, key_id="monitoring-1")).reason == "key_not_for_source"


def test_should_refuse_a_key_id_the_policy_revokes_as_key_revoked() -> None:
    raw = signed(TICKET, key_id=gk.REVOKED_KEY_ID)
    assert rejected(raw).reason == "key_revoked"
    # The same record under a policy that revokes nothing: it is the policy that refuses it.
    data = gk.policy_data()
    data["revoked_key_ids"] = []
    assert accepted(raw, gk.make_gate(gk.make_policy(data))).event == TICKET


def test_should_refuse_a_value_with_one_flipped_byte_as_signature_invalid() -> None:
    raw = signed(TICKET)
    value = raw.value or b""
    at = value.index(b"evt-t1") + 5
    out = rejected(Raw(raw.key, gk.flip(value, at), raw.headers))
    assert out.reason == "signature_invalid"
    assert out.event_id == "evt-t0"  # it decoded fine; only the signature is wrong


def test_should_refuse_a_signature_over_a_key_with_one_flipped_byte_as_signature_invalid() -> None:
    raw = signed(TICKET, sign_key=gk.flip(TICKET.key, len(TICKET.key) - 1))
    assert raw.key == TICKET.key
    assert rejected(raw).reason == "signature_invalid"


@pytest.mark.parametrize("signature", [b"", b"0" * 64, b"zz", "é".encode() * 32])
def test_should_refuse_a_garbage_signature_as_signature_invalid(signature: bytes) -> None:
    raw = signed(TICKET)
    headers = gk.replaced(raw.headers, HEADER_SIGNATURE, signature)
    assert rejected(Raw(raw.key, raw.value, headers)).reason == "signature_invalid"


def test_should_refuse_json_whose_bytes_changed_after_signing() -> None:
    raw = signed(TICKET, as_json=True)
    spaced = b"{ " + (raw.value or b"")[1:]  # the same JSON, other bytes
    assert json.loads(spaced) == json.loads(raw.value or b"")
    assert rejected(Raw(raw.key, spaced, raw.headers)).reason == "signature_invalid"


# -- order, ids, never raising ------------------------------------------------------------------


def test_should_name_the_first_failing_check() -> None:
    everything_wrong = event(
        "approval.granted",
        tenant="initech",
        actor=Actor(id="u", kind="service"),
        occurred_at=NOW_MS - 30 * gk.DAY_MS,
    ).model_copy(update={"source": "helpdesk"})
    raw = signed(everything_wrong)
    assert rejected(raw).reason == "tenant_not_allowed"
    assert rejected(signed(everything_wrong.model_copy(update={"tenant": "acme"}))).reason == (
        "event_type_not_allowed"
    )
    unknown = TICKET.model_copy(update={"source": "nobody"})
    no_sig = Raw(TICKET.key, encode(unknown), ())
    assert rejected(no_sig).reason == "unknown_source"  # the source before its signature
    bad_key_and_sig = Raw(b"other", encode(TICKET), ())
    assert rejected(bad_key_and_sig).reason == "key_mismatch"
    assert rejected(Raw(None, b"junk", ())).reason == "missing_key"


def test_should_carry_event_id_and_tenant_once_the_event_decoded() -> None:
    out = rejected(signed(TICKET, key_id="monitoring-1"))
    assert (out.event_id, out.tenant) == ("evt-t1", "acme")


@pytest.mark.parametrize("kind", sorted(gk.BAD_KINDS))
def test_should_give_the_expected_reason_for_every_bad_kind(kind: str) -> None:
    for i in range(len(gk.GOOD_TYPES)):
        raw, reason = gk.bad_record(kind, gk.good_event(i, NOW_MS), NOW_MS)
        assert rejected(raw).reason == reason, (kind, i)


def test_every_reason_code_is_reachable() -> None:
    reached = {reason for reason, _ in gk.BAD_KINDS.values()}
    assert reached == set(GATE_REASONS)


def test_should_not_trust_a_keyring_without_that_source() -> None:
    gate = Gate(GATE.policy, KeyRing.from_mapping({"jobs": {"jobs-1": "x"}}))
    assert rejected(signed(TICKET), gate).reason == "unknown_key_id"


def test_should_accept_the_avro_content_type_header_in_any_case() -> None:
    raw = signed(TICKET, content_type=CONTENT_TYPE_AVRO.upper().encode())
    assert accepted(raw).value is raw.value
    assert raw.headers[0][0] == HEADER_CONTENT_TYPE


@pytest.mark.parametrize(
    "doc_change",
    [
        {"\ud800": 1},  # an unknown field whose name is a lone surrogate
        {"payload": {"ticket_id": "T", "\udfff": "x"}},
    ],
)
def test_should_quarantine_json_quoting_lone_surrogates_in_the_detail(doc_change: Any) -> None:
    value = json_with(TICKET, **doc_change)
    assert b"\\ud800" in value or b"\\udfff" in value
    out = rejected(signed(TICKET, as_json=True, value=value))
    assert out.reason == "schema_invalid"
    out.detail.encode("utf-8")  # the quarantine record can carry it
    outcome, result = admit(GATE, signed(TICKET, as_json=True, value=value).record(), CTX)
    assert outcome is None
    assert read_quarantine(result.emits[0].value or b"")["reason"] == "schema_invalid"
