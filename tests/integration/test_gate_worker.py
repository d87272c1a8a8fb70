"""The gate on the real broker: ``agentflow worker`` with its default processor (the gate,
fused with the orchestrator) splits ingress exactly into workflow-events and quarantine,
through SIGKILLs, and moves records a CRC32-partitioning producer put on the wrong partition.

The orchestrator behind the gate may quarantine validated events it refuses (another
tenant, an unexpected approval, ...) and may emit ``timer.fired`` to workflow-events; such
records carry ``af-quarantined-by: orchestrator/...`` or are engine-made timer events, and
are told apart from the gate's own below."""

from __future__ import annotations

import signal
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from processors.events import HEADER_DECIDED_AT, decided_at, decode, decode_json
from processors.gate import GATE_REASONS
from processors.partitioning import partition_for
from processors.quarantine import read_quarantine
from tests import gatekit as gk
from tests.integration.crashpoint import CRASHING, crash_env
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.readers import read_topics
from tests.integration.hostkit import Message, produce_one, read_records
from tests.integration.workers import GATE_ONLY

pytestmark = pytest.mark.timeout(180)

PARTITIONS = 4
BATCH = 3_000


@pytest.fixture
def deployment(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Iterator[EngineDeployment]:
    """Catalog topics under the test's prefix; workers get the test policy and secrets."""
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="gate")
    dep.env.update(gk.write_config(tmp_path / "config"))
    yield dep
    dep.delete()


# -- producing and reading ----------------------------------------------------------------------


def produce(
    bootstrap: str, topic: str, raws: list[gk.Raw], *, java_partitioner: bool = True
) -> list[int]:
    """Produce with headers; the partition each record landed on, in order.

    ``java_partitioner`` picks murmur2 (as the SDK does); otherwise librdkafka's default
    (consistent_random: CRC32 of the key).
    """
    return RawProducer(bootstrap, java_partitioner=java_partitioner).send(topic, raws)


class RawProducer:
    """A producer of raw records with headers that reports where each one landed."""

    def __init__(self, bootstrap: str, *, java_partitioner: bool = True) -> None:
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "enable.idempotence": True,
        }
        if java_partitioner:
            conf["partitioner"] = "murmur2_random"
        self.producer = Producer(conf)

    def send(self, topic: str, raws: list[gk.Raw]) -> list[int]:
        landed: dict[int, int] = {}

        def delivered(i: int) -> Any:
            def report(err: Any, msg: Any) -> None:
                assert err is None, err
                landed[i] = msg.partition()

            return report

        for i, raw in enumerate(raws):
            produce_one(
                self.producer,
                topic,
                raw.value,
                raw.key,
                headers=list(raw.headers),
                on_delivery=delivered(i),
            )
            self.producer.poll(0)
        assert self.producer.flush(60) == 0
        return [landed[i] for i in range(len(raws))]


def from_gate(msg: Message) -> bool:
    """A quarantine record the gate wrote (not the orchestrator behind it)."""
    return (dict(msg[2]).get("af-quarantined-by") or b"").startswith(b"gate/")


def not_engine_made(msg: Message) -> bool:
    """A workflow-events record that is not the orchestrator's own ``timer.fired``."""
    return decode(msg[1] or b"").event_type != "timer.fired"


def read_all(
    bootstrap: str, topic: str, expected: int, counts: Callable[[Message], bool] | None = None
) -> list[Message]:
    """Every committed record (key, value, headers, partition) once ``expected`` of those
    that ``counts`` (all, by default) arrived, and 2 seconds more to catch any extra."""
    return read_records(bootstrap, topic, expected, timeout=90.0, settle=2.0, counts=counts)


# -- the batch --------------------------------------------------------------------------------


@dataclass
class Batch:
    raws: list[gk.Raw]
    good: dict[str, gk.Raw]  # event_id -> the record sent
    bad: dict[bytes, str]  # the value sent -> the reason the gate must give
    bad_raws: dict[bytes, gk.Raw]

    @property
    def reasons(self) -> Counter[str]:
        return Counter(self.bad.values())


def build_batch(n: int = BATCH) -> Batch:
    """Two thirds good (a fifth of those JSON), one third bad: every bad kind in turn."""
    now_ms = int(time.time() * 1000)
    kinds = sorted(gk.BAD_KINDS)
    raws: list[gk.Raw] = []
    good: dict[str, gk.Raw] = {}
    bad: dict[bytes, str] = {}
    bad_raws: dict[bytes, gk.Raw] = {}
    for i in range(n):
        wf = i % 211
        ev = gk.good_event(i, now_ms, f"wf-{wf:03d}", tenant=("acme", "globex")[wf % 2])
        if i % 3 == 2:
            kind = kinds[(i // 3) % len(kinds)]
            raw, reason = gk.bad_record(
                kind, ev.model_copy(update={"event_id": f"bad-{i}"}), now_ms
            )
            assert raw.value is not None and raw.value not in bad
            bad[raw.value] = reason
            bad_raws[raw.value] = raw
        else:
            raw = gk.signed(ev, as_json=i % 5 == 0)
            good[ev.event_id] = raw
        raws.append(raw)
    return Batch(raws, good, bad, bad_raws)


def read_outcome(deployment: EngineDeployment, batch: Batch) -> tuple[list[Message], ...]:
    """(validated, gate-quarantined, engine-quarantined) records, once all expected are in."""
    b = deployment.bootstrap
    events = read_all(b, deployment.events, len(batch.good), counts=not_engine_made)
    quarantined = read_all(b, deployment.quarantine, len(batch.bad), counts=from_gate)
    return (
        [m for m in events if not_engine_made(m)],
        [m for m in quarantined if from_gate(m)],
        [m for m in quarantined if not from_gate(m)],
    )


def check_outcome(
    batch: Batch, events: list[Message], quarantined: list[Message], by_engine: list[Message]
) -> None:
    """Exactly the good events validated, once each, on their key's partition, byte for byte
    (Avro) or as the same event (JSON); exactly the bad records quarantined by the gate, once
    each, with their reason and original key, value and headers. What the orchestrator
    refused afterwards was validated first."""
    assert len(events) == len(batch.good), f"{len(events)} validated, want {len(batch.good)}"
    assert len(quarantined) == len(batch.bad), f"{len(quarantined)} quarantined by the gate"
    ids: Counter[str] = Counter()
    for key, value, headers, partition in events:
        assert value is not None and key is not None
        event = decode(value)
        ids[event.event_id] += 1
        assert key == event.key
        assert partition == partition_for(key, PARTITIONS)
        assert set(dict(headers)) == {"content-type", HEADER_DECIDED_AT}
        assert dict(headers)["content-type"] == b"application/avro"
        assert decided_at(headers) is not None  # when it was admitted: the engine's "now"
        sent = batch.good[event.event_id]
        if sent.value and sent.value[:2] == b"\xc3\x01":
            assert value == sent.value
        else:
            assert event == decode_json(sent.value or b"")
    assert set(ids) == set(batch.good), "a validated event is missing or unexpected"
    assert [i for i, c in ids.items() if c > 1] == [], "duplicates on workflow-events"
    seen: Counter[bytes] = Counter()
    reasons: Counter[str] = Counter()
    for key, value, headers, _ in quarantined:
        body = read_quarantine(value or b"")
        original = body["original_value"]
        assert original in batch.bad, "an unexpected record was quarantined"
        seen[original] += 1
        reasons[body["reason"]] += 1
        assert body["reason"] == batch.bad[original], (body["reason"], body["detail"])
        assert dict(headers)["af-reason"] == body["reason"].encode()
        sent = batch.bad_raws[original]
        assert key == sent.key == body["original_key"]
        assert [(h["key"], h["value"]) for h in body["original_headers"]] == list(sent.headers)
        assert body["event_id"] not in ids, "an event both validated and quarantined"
    assert [v for v, c in seen.items() if c > 1] == [], "duplicates on quarantine"
    assert reasons == batch.reasons
    for _, value, headers, _ in by_engine:
        body = read_quarantine(value or b"")
        assert (dict(headers)["af-quarantined-by"] or b"").startswith(b"orchestrator/"), body
        assert body["event_id"] in ids, "the orchestrator refused an event the gate did not pass"


# -- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("processor", ["", GATE_ONLY], ids=["default", "gate-only"])
def test_should_split_a_mixed_batch_exactly_into_validated_and_quarantined(
    deployment: EngineDeployment, processor: str
) -> None:
    batch = build_batch()
    assert set(batch.reasons) == set(GATE_REASONS)
    produce(deployment.bootstrap, deployment.ingress, batch.raws)
    worker = deployment.worker(processor=processor)
    try:
        outcome = read_outcome(deployment, batch)
        assert worker.alive(), worker.log()
        stats = worker.wait_for(lambda s: s.get("records", 0) >= BATCH, timeout=30)
    finally:
        code = worker.stop()
    assert code == 0, worker.log()
    assert stats["poison_records"] == 0
    check_outcome(batch, *outcome)
    if processor == GATE_ONLY:  # nothing behind the gate: the topics hold its output only
        assert outcome[2] == []


def test_should_stay_exact_when_the_worker_is_sigkilled_twice_mid_batch(
    deployment: EngineDeployment,
) -> None:
    batch = build_batch()
    produce(deployment.bootstrap, deployment.ingress, batch.raws)
    for _ in range(2):
        # Each worker kills itself inside its first checkpoint (tests.integration.crashpoint),
        # whose transaction holds a whole consumed batch's output (thousands of records).
        # The next one has the same worker id: it fences the dead one and aborts its work.
        with deployment.worker(processor=CRASHING, env=crash_env(1)) as doomed:
            assert doomed.wait_exit(120) == -signal.SIGKILL, doomed.log()
    worker = deployment.worker()
    try:
        outcome = read_outcome(deployment, batch)
        assert worker.alive(), worker.log()
        stats = worker.stats()
    finally:
        code = worker.stop()
    assert code == 0, worker.log()
    assert stats.get("poison_records") == 0
    check_outcome(batch, *outcome)
    # The kills did cut transactions short: their output is in the log, aborted.
    outputs = [deployment.events, deployment.quarantine]
    written = read_topics(deployment.bootstrap, outputs, committed=False)
    committed = read_topics(deployment.bootstrap, outputs)
    assert sum(map(len, written.values())) > sum(map(len, committed.values())), (
        "no kill landed inside a transaction"
    )


def _crc32_partition(key: bytes) -> int:
    """librdkafka's default (consistent_random) partition for a non-empty key."""
    return zlib.crc32(key) % PARTITIONS


def test_should_move_records_from_a_crc32_producer_to_their_murmur2_partition(
    deployment: EngineDeployment,
) -> None:
    keys = [f"wf-misrouted-{i}".encode() for i in range(50)]
    good_key = next(k for k in keys if _crc32_partition(k) != partition_for(k, PARTITIONS))
    bad_key = next(k for k in reversed(keys) if _crc32_partition(k) != partition_for(k, PARTITIONS))
    now_ms = int(time.time() * 1000)
    good = gk.signed(gk.event(workflow_id=good_key.decode(), now_ms=now_ms, event_id="mis-good"))
    bad, reason = gk.bad_record(
        "signature_invalid",
        gk.event(workflow_id=bad_key.decode(), now_ms=now_ms, event_id="mis-bad"),
        now_ms,
    )
    landed = produce(deployment.bootstrap, deployment.ingress, [good, bad], java_partitioner=False)
    homes = [partition_for(good_key, PARTITIONS), partition_for(bad_key, PARTITIONS)]
    assert landed == [_crc32_partition(good_key), _crc32_partition(bad_key)]
    assert landed[0] != homes[0] and landed[1] != homes[1]
    worker = deployment.worker()
    try:
        events = read_all(deployment.bootstrap, deployment.events, 1)
        quarantined = read_all(deployment.bootstrap, deployment.quarantine, 1, counts=from_gate)
        ingress = read_all(deployment.bootstrap, deployment.ingress, 4)
        assert worker.alive(), worker.log()
    finally:
        code = worker.stop()
    assert code == 0, worker.log()
    # The valid event: exactly once on workflow-events, on its murmur2 partition, unchanged.
    assert [(k, v, p) for k, v, _, p in events] == [(good_key, good.value, homes[0])]
    # The bad one: moved first, then quarantined (once) where it now sits.
    [(q_key, q_value, _, q_partition)] = [m for m in quarantined if from_gate(m)]
    body = read_quarantine(q_value or b"")
    assert (q_key, q_partition, body["reason"]) == (bad_key, homes[1], reason)
    assert (body["original_value"], body["original_partition"]) == (bad.value, homes[1])
    # Ingress holds each original where CRC32 put it, and a byte-exact copy on its home.
    by_record = sorted(ingress, key=lambda m: (m[0] or b"", m[3]))
    want = sorted(
        [
            (good.key, good.value, good.headers, landed[0]),
            (good.key, good.value, good.headers, homes[0]),
            (bad.key, bad.value, bad.headers, landed[1]),
            (bad.key, bad.value, bad.headers, homes[1]),
        ],
        key=lambda m: (m[0] or b"", m[3]),
    )
    assert by_record == want
