"""faust-streaming (aiokafka transport) on the real broker, run as worker subprocesses.

Each test pre-creates its input topic with confluent-kafka (the broker has
``auto.create.topics.enable=false``); faust declares its own internal topics (the assignor's
leader topic and table changelogs) through its admin requests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from tests.integration.faust_apps._harness import (
    FaustWorker,
    create_topics,
    delete_topics_with_prefix,
    read_json,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)

PARTITIONS = 4


@pytest.fixture
def names(topic_prefix: str, kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    """A unique faust app id and input topic; every topic under them is removed afterwards."""
    app_id = f"af-{uuid.uuid4().hex[:10]}"
    yield {"app_id": app_id, "topic": f"{topic_prefix}input"}
    delete_topics_with_prefix(kafka_bootstrap, topic_prefix, app_id)


def _worker_env(
    bootstrap: str, names: dict[str, str], data_dir: Path, result: Path
) -> dict[str, str]:
    return {
        "AF_BROKER": bootstrap,
        "AF_APP_ID": names["app_id"],
        "AF_TOPIC": names["topic"],
        "AF_PARTITIONS": str(PARTITIONS),
        "AF_DATA_DIR": str(data_dir),
        "AF_RESULT": str(result),
    }


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], **kw: object) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    errors: list[object] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    for key, value in records:
        producer.produce(
            topic,
            key=key,
            value=value,
            on_delivery=on_delivery,
            **kw,
        )
    assert producer.flush(30) == 0
    assert errors == []


def test_should_deliver_confluent_produced_keyed_message_to_faust_agent(
    kafka_bootstrap: str, names: dict[str, str], tmp_path: Path
) -> None:
    create_topics(kafka_bootstrap, {names["topic"]: PARTITIONS})
    value = json.dumps({"order_id": "order-42", "amount_cents": 1250, "currency": "EUR"})
    _produce(
        kafka_bootstrap,
        names["topic"],
        [(b"order-42", value.encode())],
        headers=[("content-type", b"application/json")],
    )
    expected_partition = _partition_of(kafka_bootstrap, names["topic"])
    result = tmp_path / "received.json"
    worker = FaustWorker(
        "tests.integration.faust_apps.echo_app",
        _worker_env(kafka_bootstrap, names, tmp_path / "data", result),
        tmp_path / "worker.log",
    ).start()
    try:
        received = wait_for(
            lambda: read_json(result), 45, "the faust agent's first event", [worker]
        )
    finally:
        worker.kill()

    assert received == [
        {
            "topic": names["topic"],
            "partition": expected_partition,
            "offset": 0,
            "key": "order-42",
            "value": value,
            "headers": {"content-type": "application/json"},
        }
    ]
    assert json.loads(received[0]["value"]) == {
        "order_id": "order-42",
        "amount_cents": 1250,
        "currency": "EUR",
    }


def _partition_of(bootstrap: str, topic: str) -> int:
    """The one partition of ``topic`` that holds a record (by its high watermark)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        filled = [
            p
            for p in range(PARTITIONS)
            if consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] > 0
        ]
    finally:
        consumer.close()
    assert len(filled) == 1
    return filled[0]


# 30 keys, 300 events, uneven counts (8..12 per key) so a mix-up between keys shows.
EXPECTED_COUNTS = {f"user-{k:02d}": 10 + (k % 5) - 2 for k in range(30)}


def _events_round_robin(counts: dict[str, int]) -> list[tuple[bytes, bytes]]:
    remaining = dict(counts)
    events: list[tuple[bytes, bytes]] = []
    while any(remaining.values()):
        for key, left in remaining.items():
            if left:
                events.append((key.encode(), f"event-{len(events)}".encode()))
                remaining[key] = left - 1
    return events


def _changelog_latest(bootstrap: str, topic: str) -> dict[str, int]:
    """The latest value per key in the changelog topic, read from the beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"probe-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        tps = [TopicPartition(topic, p, 0) for p in metadata.partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
        consumer.assign(tps)
        latest: dict[str, int] = {}
        positions = dict.fromkeys(ends, 0)
        while any(positions[p] < ends[p] for p in ends):
            msg = consumer.poll(5)
            if msg is None:
                break
            if msg.error():
                continue
            positions[msg.partition()] = msg.offset() + 1
            # faust's table codec is JSON for keys and values alike.
            latest[json.loads(msg.key())] = json.loads(msg.value())
        return latest
    finally:
        consumer.close()


def _group_caught_up(bootstrap: str, group: str, topic: str) -> bool:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        committed = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], 10)
        return all(
            tp.offset == consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in committed
        )
    finally:
        consumer.close()


def test_should_restore_rocksdict_table_from_changelog_when_state_dir_is_wiped(
    kafka_bootstrap: str, names: dict[str, str], tmp_path: Path
) -> None:
    create_topics(kafka_bootstrap, {names["topic"]: PARTITIONS})
    changelog = f"{names['app_id']}-counts-changelog"
    events = _events_round_robin(EXPECTED_COUNTS)
    assert len(events) == 300
    _produce(kafka_bootstrap, names["topic"], events)

    # Run 1: count everything, then die without any shutdown (SIGKILL).
    first_result = tmp_path / "first.json"
    first_data = tmp_path / "data-first"
    first = FaustWorker(
        "tests.integration.faust_apps.counter_app",
        _worker_env(kafka_bootstrap, names, first_data, first_result),
        tmp_path / "worker-first.log",
    ).start()
    try:
        state = wait_for(
            lambda: (s := read_json(first_result)) and s["handled"]["events"] == 300 and s,
            60,
            "the first worker to count 300 events",
            [first],
        )
        # Only kill once the changelog holds every final count and the input offsets are
        # committed; otherwise a restart would legitimately re-count (at-least-once).
        wait_for(
            lambda: _changelog_latest(kafka_bootstrap, changelog) == EXPECTED_COUNTS,
            30,
            "the changelog to hold the final counts",
            [first],
        )
        wait_for(
            lambda: _group_caught_up(kafka_bootstrap, names["app_id"], names["topic"]),
            30,
            "the input offsets to be committed",
            [first],
        )
    finally:
        first.kill()

    assert state["counts"] == EXPECTED_COUNTS
    assert state["changelog_topic"] == changelog
    assert state["store_class"] == "faust.stores.rocksdb.Store"
    assert state["use_rocksdict"] is True
    assert state["dbs_are_rocksdict"] is True
    assert state["db_partitions"] == list(range(PARTITIONS))
    # One RocksDB database per partition, written by rocksdict (it leaves its config file).
    tables_dir = first_data / "v1" / "tables"
    for p in range(PARTITIONS):
        assert (tables_dir / f"counts-{p}.db" / "CURRENT").is_file()
        assert (tables_dir / f"counts-{p}.db" / "rocksdict-config.json").is_file()
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, changelog)
    changelog_config = admin.describe_configs([resource])[resource].result()
    assert changelog_config["cleanup.policy"].value == "compact"

    # Run 2: an empty state directory; the worker dumps its table once recovery from the
    # changelog has completed, with no new input to process.
    second_result = tmp_path / "second.json"
    second_data = tmp_path / "data-second"
    assert not second_data.exists()
    second = FaustWorker(
        "tests.integration.faust_apps.counter_app",
        _worker_env(kafka_bootstrap, names, second_data, second_result),
        tmp_path / "worker-second.log",
    ).start()
    try:
        restored = wait_for(
            lambda: (s := read_json(second_result)) and s["recovered"] and s,
            # Joining waits out the killed member's session, then restores: seconds when quiet.
            120,
            "the restarted worker to dump its restored table",
            [second],
        )
    finally:
        second.kill()

    assert restored["counts"] == EXPECTED_COUNTS
    assert restored["handled"] == {"events": 0}  # restored, not re-counted
    assert restored["dbs_are_rocksdict"] is True
    assert restored["db_partitions"] == list(range(PARTITIONS))
    for p in range(PARTITIONS):
        assert (second_data / "v1" / "tables" / f"counts-{p}.db" / "CURRENT").is_file()
