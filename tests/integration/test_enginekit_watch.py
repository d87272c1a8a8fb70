"""The engine tests' committed-record watch: a consumer that stops fetching is replaced at the
same offsets, so the test reads every committed record once, and an idle watch that has read
everything is left alone."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer, TopicPartition

from tests.integration.enginekit.watcher import CommittedWatch
from tests.integration.faust_apps._harness import create_topics, delete_topics_with_prefix

pytestmark = pytest.mark.timeout(120)

PARTITIONS = 2
STALL_S = 2.0


@pytest.fixture
def topic(topic_prefix: str, kafka_bootstrap: str) -> Iterator[str]:
    name = f"{topic_prefix}watch"
    create_topics(kafka_bootstrap, {name: PARTITIONS})
    yield name
    delete_topics_with_prefix(kafka_bootstrap, topic_prefix)


def _transaction(producer: Producer, topic: str, values: list[str], commit: bool) -> None:
    producer.begin_transaction()
    for i, value in enumerate(values):
        producer.produce(topic, value=value.encode(), partition=i % PARTITIONS)
    if commit:
        producer.commit_transaction(30)
    else:
        producer.flush(30)  # written first, so the log holds the aborted records
        producer.abort_transaction(30)


def _read(watch: CommittedWatch, want: int, seconds: float) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        got += [(m.value() or b"").decode() for m in watch.consume(0.2)]
    return got


def test_a_stalled_watch_is_reopened_at_its_offsets_and_an_idle_one_is_left_alone(
    kafka_bootstrap: str, topic: str
) -> None:
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"watch-{uuid.uuid4().hex}"}
    )
    producer.init_transactions(30)
    _transaction(producer, topic, [f"aborted-{i}" for i in range(4)], commit=False)
    _transaction(producer, topic, [f"first-{i}" for i in range(10)], commit=True)
    watch = CommittedWatch(kafka_bootstrap, [topic], PARTITIONS, stall_s=STALL_S)
    try:
        assert sorted(_read(watch, 10, 30)) == sorted(f"first-{i}" for i in range(10))

        # Caught up, with an aborted transaction behind it: nothing to reopen for.
        assert _read(watch, 1, STALL_S * 2 + 1) == []
        assert watch.restarts == 0

        # A consumer that stops fetching, as librdkafka's once did after a broker restart.
        watch._consumer.pause([TopicPartition(topic, p) for p in range(PARTITIONS)])
        _transaction(producer, topic, [f"second-{i}" for i in range(6)], commit=True)
        second = _read(watch, 6, STALL_S * 4 + 10)
        assert sorted(second) == sorted(f"second-{i}" for i in range(6))
        assert watch.restarts == 1
        assert watch.next_offsets == {(topic, 0): 12, (topic, 1): 12}  # 2+1, 5+1, 3
    finally:
        watch.close()
        producer.flush(10)
