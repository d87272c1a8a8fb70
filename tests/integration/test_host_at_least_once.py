"""The stream host's ``at_least_once`` mode (for brokers without transactions): no input is
lost, through crashes too, and state and outputs never disagree.

The broker here has transactions; the mode simply does not use them (no transactional id:
plain flushes and consumer offset commits), which is the path a broker without them takes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from tests.integration.hostkit import (
    SLOW_CHECKPOINTS,
    CounterTopics,
    check_exactly_once,
    counter_records,
    counter_worker,
    produce,
    read_committed,
    run_with_kills,
)

AT_LEAST_ONCE = {"AGENTFLOW_PROCESSING_GUARANTEE": "at_least_once"}


def _committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return [tp.offset for tp in consumer.committed(tps, timeout=10)]
    finally:
        consumer.close()


def _ends(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"p-{uuid.uuid4().hex}"})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        ]
    finally:
        consumer.close()


def test_should_count_exactly_once_without_transactions_when_nothing_crashes(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    records = counter_records(20_000, keys=1_000)
    produce(kafka_bootstrap, topics.input, records)
    worker = counter_worker(
        kafka_bootstrap, topics, tmp_path / "data", "w1", extra_env=AT_LEAST_ONCE
    )
    outputs = read_committed(kafka_bootstrap, topics.output, len(records))
    stats = worker.wait_for(lambda s: s.get("records", 0) >= len(records))
    assert worker.stop() == 0
    check_exactly_once(records, outputs)
    assert stats["aborts"] == 0
    # Offsets are committed by the consumer, not in a transaction, and reach the end.
    assert _committed_offsets(
        kafka_bootstrap, topics.app_id, topics.input, topics.partitions
    ) == _ends(kafka_bootstrap, topics.input, topics.partitions)
    # Read uncommitted, the output is the same: nothing was written in a transaction.
    assert len(
        read_committed(
            kafka_bootstrap, topics.output, len(records), settle=0.5, isolation="read_uncommitted"
        )
    ) == len(records)


def test_should_lose_nothing_without_transactions_when_the_worker_is_sigkilled(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    records = counter_records(60_000, keys=2_000)
    waves = [records[i::4] for i in range(4)]
    outputs = run_with_kills(
        kafka_bootstrap,
        topics,
        tmp_path / "data",
        waves,
        seed=11,
        kill_env={**AT_LEAST_ONCE, **SLOW_CHECKPOINTS},
        final_env=AT_LEAST_ONCE,
    )

    # No loss: every input has at least one output.
    seen = {v.rsplit(b"|", 1)[0] for _, v, _ in outputs}
    assert seen == {v for _, v in records}
    # Each kill came after its checkpoint's outputs were sent and before its offsets were
    # committed, so those inputs were redelivered and counted again.
    assert len(outputs) > len(records)
    # State and outputs agree: a redelivered input is counted again and its output says so.
    # The host produces a checkpoint's outputs before its changelog records (and one
    # connection's requests complete in order), so no state change is without its output:
    # each key's counts run 1..n with no gap, and n is at least the number of its inputs.
    want: dict[bytes, int] = defaultdict(int)
    for k, _ in records:
        want[k] += 1
    per_key: dict[bytes, set[int]] = defaultdict(set)
    for k, v, _ in outputs:
        per_key[k].add(int(v.rsplit(b"|", 1)[1]))
    assert set(per_key) == set(want)
    for k, counts in per_key.items():
        assert counts == set(range(1, max(counts) + 1)), k
        assert max(counts) >= want[k], k
