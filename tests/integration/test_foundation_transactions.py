"""Kafka transactions with confluent-kafka on the real broker: commit, abort, isolation levels."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from tests.integration.faust_apps._harness import create_topics, delete_topics_with_prefix

pytestmark = pytest.mark.timeout(90)

PARTITIONS = 2


@pytest.fixture
def topic(topic_prefix: str, kafka_bootstrap: str) -> Iterator[str]:
    name = f"{topic_prefix}tx"
    create_topics(kafka_bootstrap, {name: PARTITIONS})
    yield name
    delete_topics_with_prefix(kafka_bootstrap, topic_prefix)


def _transactional_producer(bootstrap: str) -> Producer:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"tx-test-{uuid.uuid4().hex}",
            "enable.idempotence": True,
            "acks": "all",
            "transaction.timeout.ms": 30000,
        }
    )
    producer.init_transactions(30)
    return producer


def _read_all(bootstrap: str, topic: str, isolation: str) -> list[tuple[str, str]]:
    """Every record a consumer with ``isolation`` sees, up to the end of the topic."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"tx-probe-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        at_eof: set[int] = set()
        records: list[tuple[str, str]] = []
        while len(at_eof) < PARTITIONS:
            msg = consumer.poll(10)
            assert msg is not None, f"no record or EOF within 10s ({isolation})"
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                at_eof.add(msg.partition())
                continue
            at_eof.discard(msg.partition())
            records.append((msg.key().decode(), msg.value().decode()))
        return records
    finally:
        consumer.close()


COMMITTED = [(f"wf-{i % 3}", f"committed-{i}") for i in range(10)]
ABORTED = [(f"wf-{i % 3}", f"aborted-{i}") for i in range(10)]


@pytest.fixture
def one_committed_one_aborted(kafka_bootstrap: str, topic: str) -> str:
    """``topic`` after one committed and one aborted transaction of 10 records each."""
    producer = _transactional_producer(kafka_bootstrap)

    producer.begin_transaction()
    for key, value in COMMITTED:
        producer.produce(topic, key=key, value=value)
    producer.commit_transaction(30)

    producer.begin_transaction()
    for key, value in ABORTED:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0  # the aborted records reach the log before the abort marker
    producer.abort_transaction(30)
    return topic


def _in_key_order(records: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Values per key in the order read (one key lives on one partition, so order is defined)."""
    by_key: dict[str, list[str]] = {}
    for key, value in records:
        by_key.setdefault(key, []).append(value)
    return by_key


def test_should_show_read_committed_consumer_exactly_the_committed_transaction(
    kafka_bootstrap: str, one_committed_one_aborted: str
) -> None:
    seen = _read_all(kafka_bootstrap, one_committed_one_aborted, "read_committed")

    assert len(seen) == 10
    assert sorted(seen) == sorted(COMMITTED)
    assert _in_key_order(seen) == _in_key_order(COMMITTED)


def test_should_show_read_uncommitted_consumer_committed_and_aborted_records(
    kafka_bootstrap: str, one_committed_one_aborted: str
) -> None:
    seen = _read_all(kafka_bootstrap, one_committed_one_aborted, "read_uncommitted")

    assert len(seen) == 20
    assert sorted(seen) == sorted(COMMITTED + ABORTED)
    assert _in_key_order(seen) == _in_key_order(COMMITTED + ABORTED)
