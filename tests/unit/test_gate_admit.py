"""admit() and misrouted(): one emit per input, quarantine records, re-routing by murmur2."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from processors.contract import Context, Emit, Record
from processors.deployment import Deployment
from processors.events import (
    CONTENT_TYPE_AVRO,
    HEADER_CONTENT_TYPE,
    decided_at,
    decided_at_header,
    decode,
)
from processors.gate import (
    EVENTS_ROLE,
    GATE_REASONS,
    INGRESS_ROLE,
    Accepted,
    Gate,
    GateProcessor,
    Rejected,
    admit,
    misrouted,
)
from processors.partitioning import partition_for
from processors.quarantine import ORIGIN_HEADER, REASON_HEADER, read_quarantine
from processors.roles import QUARANTINE_ROLE
from tests import gatekit as gk
from tests.gatekit import NOW_MS, PARTITIONS, event, signed

GATE = gk.make_gate()
TOPICS = {"ingress": "prod.agentflow.ingress", "events": "prod.agentflow.workflow-events"}
DEPLOYMENT = Deployment("agentflow", PARTITIONS, TOPICS)


def ctx(partition: int = 0, deployment: Deployment = DEPLOYMENT) -> Context:
    return Context(NOW_MS, partition, deployment)


def one_emit(record: Record, deployment: Deployment = DEPLOYMENT) -> Emit:
    outcome, result = admit(GATE, record, ctx(record.partition, deployment))
    assert len(result.emits) == 1
    assert result.writes == ()
    (emit,) = result.emits
    assert (outcome is not None) == (emit.role == EVENTS_ROLE)
    return emit


class _NeverCheck(Gate):
    def check(self, record: Record, now_ms: int) -> Accepted | Rejected:
        raise AssertionError("a mis-partitioned record must not be checked")


def wrong_partition(key: bytes) -> int:
    return (partition_for(key, PARTITIONS) + 1) % PARTITIONS


# -- accepted ---------------------------------------------------------------------------------


def test_should_emit_an_accepted_avro_event_unchanged_to_the_events_role() -> None:
    ev = event(workflow_id="wf-acme-1001")
    raw = signed(ev)
    emit = one_emit(raw.record(offset=7))
    # Stamped with its admission time: the time the orchestrator decides it at, live and on
    # a replay of the events topic.
    admitted = ((HEADER_CONTENT_TYPE, b"application/avro"), decided_at_header(ctx().now_ms))
    assert emit == Emit(EVENTS_ROLE, ev.key, raw.value, admitted)
    assert decided_at(emit.headers) == ctx().now_ms
    assert emit.value is raw.value
    assert emit.partition is None  # the host partitions it by key, like the ingress record


def test_should_emit_an_accepted_json_event_as_avro() -> None:
    ev = event("refund.proposed", workflow_id="wf-acme-1002")
    emit = one_emit(signed(ev, as_json=True).record())
    assert emit.role == EVENTS_ROLE
    assert emit.key == ev.key
    assert emit.headers[0] == (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode())
    assert decode(emit.value or b"") == ev


def test_admit_returns_the_accepted_event() -> None:
    ev = event()
    outcome, _ = admit(GATE, signed(ev).record(), ctx())
    assert isinstance(outcome, Accepted) and outcome.event == ev


# -- quarantined ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(gk.BAD_KINDS))
def test_should_quarantine_every_bad_kind_with_its_original_bytes_and_reason(kind: str) -> None:
    ev = gk.good_event(3, NOW_MS, workflow_id="wf-acme-7")
    raw, reason = gk.bad_record(kind, ev, NOW_MS)
    record = raw.record(offset=42)
    emit = one_emit(record)
    assert emit.role == QUARANTINE_ROLE
    assert emit.key == raw.key
    assert emit.partition is None
    assert dict(emit.headers) == {
        REASON_HEADER: reason.encode(),
        ORIGIN_HEADER: GATE.version.encode(),
    }
    body = read_quarantine(emit.value or b"")
    assert body["reason"] == reason
    assert body["detail"]
    assert body["original_key"] == raw.key
    assert body["original_value"] == raw.value
    assert [(h["key"], h["value"]) for h in body["original_headers"]] == list(raw.headers)
    assert body["original_topic"] == "prod.agentflow.ingress"
    assert (body["original_partition"], body["original_offset"]) == (record.partition, 42)
    assert body["quarantined_by"] == "gate/1+policy/demo-1"
    assert body["quarantined_at"] == NOW_MS


def test_should_name_the_event_and_tenant_in_the_quarantine_record_once_decoded() -> None:
    ev = event(event_id="evt-q", tenant="initech")
    body = read_quarantine(one_emit(signed(ev).record()).value or b"")
    assert (body["reason"], body["event_id"], body["tenant"]) == (
        "tenant_not_allowed",
        "evt-q",
        "initech",
    )
    garbage = read_quarantine(one_emit(gk.Raw(b"k", b"junk").record()).value or b"")
    assert (garbage["reason"], garbage["event_id"], garbage["tenant"]) == (
        "undecodable",
        None,
        None,
    )


def test_should_keep_null_header_values_and_duplicate_headers_in_quarantine() -> None:
    headers = (("x", None), ("x", b"1"), ("content-type", b"text/csv"))
    raw = gk.Raw(b"wf-1", b"a,b", headers)
    body = read_quarantine(one_emit(raw.record()).value or b"")
    assert body["reason"] == "unsupported_content_type"
    assert [(h["key"], h["value"]) for h in body["original_headers"]] == list(headers)


def test_should_name_the_role_as_topic_when_the_deployment_maps_no_topic_to_it() -> None:
    unmapped = Deployment("agentflow", PARTITIONS)
    record = gk.Raw(b"k", b"junk").record(partition=partition_for(b"k", PARTITIONS))
    body = read_quarantine(one_emit(record, unmapped).value or b"")
    assert body["original_topic"] == INGRESS_ROLE


# -- misrouted --------------------------------------------------------------------------------


def test_should_reroute_a_record_on_the_wrong_partition_unchanged_and_unchecked() -> None:
    ev = event(workflow_id="wf-acme-1001")
    raw = signed(ev, as_json=True)
    home = partition_for(raw.key or b"", PARTITIONS)
    for partition in range(PARTITIONS):
        if partition == home:
            continue
        record = raw.record(partition=partition, offset=3)
        outcome, result = admit(_NeverCheck(GATE.policy, GATE.keyring), record, ctx(partition))
        assert outcome is None
        assert result.emits == (
            Emit(INGRESS_ROLE, raw.key, raw.value, raw.headers, partition=home),
        )
        assert result.emits[0].value is raw.value


def test_should_reroute_even_a_record_the_gate_would_refuse() -> None:
    raw = gk.Raw(b"wf-whatever", b"\x00garbage", (("x", b"y"),))
    record = raw.record(partition=wrong_partition(b"wf-whatever"))
    assert misrouted(record, ctx(record.partition)) == Emit(
        INGRESS_ROLE, raw.key, raw.value, raw.headers, partition=partition_for(raw.key or b"", 4)
    )


def test_should_not_reroute_a_record_on_its_key_partition() -> None:
    raw = signed(event())
    assert misrouted(raw.record(), ctx()) is None


@pytest.mark.parametrize("key", [None, b""])
def test_should_not_reroute_a_keyless_record_but_quarantine_it(key: bytes | None) -> None:
    record = Record(INGRESS_ROLE, 3, 0, key, b"v")
    assert misrouted(record, ctx(3)) is None
    emit = one_emit(record)
    assert read_quarantine(emit.value or b"")["reason"] == "missing_key"


def test_should_check_in_place_in_a_one_partition_deployment() -> None:
    single = Deployment("agentflow", 1, TOPICS)
    record = signed(event()).record(partition=0)
    assert misrouted(record, ctx(0, single)) is None
    assert one_emit(record, single).role == EVENTS_ROLE


def test_reroute_uses_the_java_murmur2_partition_for_many_keys() -> None:
    for i in range(200):
        key = f"wf-{i}".encode()
        record = Record(INGRESS_ROLE, wrong_partition(key), i, key, b"v")
        moved = misrouted(record, ctx(record.partition))
        assert moved is not None and moved.partition == partition_for(key, PARTITIONS)


# -- the processor ----------------------------------------------------------------------------


def test_processor_reads_ingress_and_delegates_to_admit() -> None:
    processor = GateProcessor(GATE)
    assert processor.input_roles == (INGRESS_ROLE,)
    assert processor.tables == ()
    assert processor.punctuate_interval_ms == 0
    raw = signed(event())
    result = processor.process(raw.record(), state=None, ctx=ctx())  # type: ignore[arg-type]
    assert [e.role for e in result.emits] == [EVENTS_ROLE]
    assert processor.punctuate(state=None, ctx=ctx()).emits == ()  # type: ignore[arg-type]


def test_should_emit_exactly_one_record_for_every_input_of_a_mixed_stream() -> None:
    inputs: list[tuple[Record, str]] = []
    for i in range(60):
        ev = gk.good_event(i, NOW_MS)
        inputs.append((signed(ev, as_json=i % 3 == 0).record(offset=i), "events"))
        kind = sorted(gk.BAD_KINDS)[i % len(gk.BAD_KINDS)]
        bad, reason = gk.bad_record(kind, replace_id(ev, f"bad-{i}"), NOW_MS)
        inputs.append((bad.record(offset=i), reason))
        wrong = signed(ev).record(partition=wrong_partition(ev.key), offset=i)
        inputs.append((wrong, "rerouted"))
    for record, expected in inputs:
        emit = one_emit(record)
        if expected == "events":
            assert emit.role == EVENTS_ROLE
        elif expected == "rerouted":
            assert (emit.role, emit.partition) == (INGRESS_ROLE, partition_for(emit.key or b"", 4))
        else:
            assert emit.role == QUARANTINE_ROLE
            assert read_quarantine(emit.value or b"")["reason"] == expected in GATE_REASONS


def replace_id(ev: Any, event_id: str) -> Any:
    return ev.model_copy(update={"event_id": event_id})


def test_record_helper_puts_records_on_the_murmur2_partition() -> None:
    raw = signed(event(workflow_id="wf-x"))
    assert raw.record().partition == partition_for(b"wf-x", PARTITIONS)
    assert replace(raw.record(), partition=1).partition == 1
