"""Bounded reads of a topic: everything committed up to the end offsets at the time of the call.

Used by ``agentflow quarantine`` and handy in tests and scripts. Reads are ``read_committed``,
with no consumer group offsets committed (each read uses a throwaway group id).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from agentflow.sdk.records import SdkError

_LEADER = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
    }
)


def _consumer(config: Mapping[str, Any]) -> Consumer:
    return Consumer(
        {
            **config,
            "group.id": f"agentflow-reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 20,  # the end of a partition shows after an empty fetch
            "log_level": 2,  # connection failures surface as exceptions, not log lines
            "auto.offset.reset": "earliest",
        }
    )


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    found = consumer.list_topics(timeout=10).topics.get(topic)
    if found is None or found.error is not None:
        raise SdkError(
            f"topic {topic} does not exist; run `agentflow topics ensure` or check "
            "AGENTFLOW_TOPIC_PREFIX"
        )
    return sorted(found.partitions)


def _watermarks(consumer: Consumer, topic: str, partition: int) -> tuple[int, int]:
    """(low, high) offsets; retries while a new topic's leader is being elected."""
    deadline = time.monotonic() + 15
    while True:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            return low, high
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            retriable = isinstance(err, KafkaError) and (err.retriable() or err.code() in _LEADER)
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def end_offsets(config: Mapping[str, Any], topic: str) -> dict[int, int]:
    """``{partition: end offset}`` of ``topic`` (the last stable offset, for read_committed)."""
    consumer = _consumer(config)
    try:
        return {p: _watermarks(consumer, topic, p)[1] for p in _partitions(consumer, topic)}
    finally:
        consumer.close()


def read_topic(
    config: Mapping[str, Any], topic: str, since_ms: int | None = None, timeout: float = 60.0
) -> Iterator[Message]:
    """Every committed record of ``topic`` up to its end offsets now, partitions interleaved
    as the broker returns them. ``since_ms`` starts each partition at the first record with a
    timestamp at or after it. Raises :class:`SdkError` if the topic is missing or the read
    takes longer than ``timeout`` seconds."""
    consumer = _consumer(config)
    try:
        ends: dict[int, int] = {}
        for p in _partitions(consumer, topic):
            low, high = _watermarks(consumer, topic, p)
            if high > low:
                ends[p] = high
        starts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends]
        if since_ms is not None and starts:
            wanted = [TopicPartition(topic, p, since_ms) for p in ends]
            starts = [tp for tp in consumer.offsets_for_times(wanted, timeout=10) if tp.offset >= 0]
        open_parts = {tp.partition for tp in starts}
        if not open_parts:
            return
        consumer.assign(starts)
        deadline = time.monotonic() + timeout
        while open_parts:
            if time.monotonic() > deadline:
                raise SdkError(f"reading {topic} took over {timeout:g}s; is the broker healthy?")
            for msg in consumer.consume(500, 0.05):
                err, partition = msg.error(), msg.partition()
                if err is not None and err.code() == KafkaError._PARTITION_EOF:
                    open_parts.discard(partition)
                elif err is not None:
                    raise SdkError(f"reading {topic}: {err.str()}")
                elif partition in open_parts and (msg.offset() or 0) < ends[partition]:
                    if (msg.offset() or 0) >= ends[partition] - 1:
                        open_parts.discard(partition)
                    yield msg
    finally:
        consumer.close()


def fetch_message(
    config: Mapping[str, Any], topic: str, partition: int, offset: int, timeout: float = 20.0
) -> Message:
    """The committed record at ``partition:offset``; raises :class:`SdkError` if there is none."""
    consumer = _consumer(config)
    try:
        if partition not in _partitions(consumer, topic):
            raise SdkError(f"{topic} has no partition {partition}")
        low, high = _watermarks(consumer, topic, partition)
        if not low <= offset < high:
            holds = f"has offsets {low} to {high - 1}" if high > low else "is empty"
            raise SdkError(f"no record at {partition}:{offset}; partition {partition} {holds}")
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None and err.code() != KafkaError._PARTITION_EOF:
                raise SdkError(f"reading {topic}: {err.str()}")
            if err is None and msg.offset() == offset:
                return msg
            break
        raise SdkError(
            f"no committed record at {partition}:{offset} (a transaction marker, an aborted "
            "or still open transaction)"
        )
    finally:
        consumer.close()
