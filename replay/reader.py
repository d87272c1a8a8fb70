"""Reading history for a replay: a topic's committed records, up to where it ended at the start.

The reader assigns partitions itself: it never joins a consumer group, never commits an
offset, and so never disturbs the live workers. It captures each partition's end offset before
it reads, so records written during the replay are not part of it, and reads only committed
records (``read_committed``: an aborted transaction's records are not history).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from processors.contract import Record
from streams.clients import record_of


class ReplayError(Exception):
    """A replay that cannot run as asked: the message names the cause and the fix."""


_RELATIVE = re.compile(r"^-(\d+)\s*(s|m|h|d)$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_time(text: str, now_ms: int, option: str) -> int:
    """Epoch ms from an ISO time (``2026-11-30T12:00:00Z``; naive means UTC), a time relative
    to ``now_ms`` (``-2h``, ``-30m``, ``-1d``, ``-90s``) or epoch milliseconds."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        return now_ms - int(relative.group(1)) * _UNIT_MS[relative.group(2)]
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayError(
            f"{option} {text!r} is not a time: give an ISO time (2026-11-30T12:00:00Z), a "
            "relative one (-2h, -30m, -1d) or epoch milliseconds"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


_OFFSET = r"(@\d+|\d+:\d+)"
_OFFSETS = re.compile(rf"^{_OFFSET}(,{_OFFSET})*$")


@dataclass(frozen=True)
class Offsets:
    """Explicit offsets of the workflow-events topic: one for every partition (``@1200``),
    some partitions' own (``0:1200,3:950``), or both (``@0,2:300``: partition 2 from 300, the
    others from 0). A partition not named, with no ``@N``, is not bounded."""

    every: int | None = None
    by_partition: Mapping[int, int] = field(default_factory=dict)

    def get(self, partition: int) -> int | None:
        """The offset given for ``partition``, or None if it is not bounded."""
        return self.by_partition.get(partition, self.every)


def is_offsets(text: str) -> bool:
    """True if ``text`` is written as offsets (``@N`` or ``P:N,...``), not as a time."""
    return bool(_OFFSETS.match(text.strip()))


def parse_offsets(text: str, option: str) -> Offsets:
    """:class:`Offsets` from ``@N``, ``P:N`` or a comma-separated list of them."""
    value = text.strip()
    if not is_offsets(value):
        raise ReplayError(
            f"{option} {text!r} is not offsets: give @N (offset N of every partition) and/or "
            "P:N (offset N of partition P), separated by commas"
        )
    every: int | None = None
    by_partition: dict[int, int] = {}
    for part in value.split(","):
        if part.startswith("@"):
            every = int(part[1:])
        else:
            partition, offset = part.split(":")
            by_partition[int(partition)] = int(offset)
    return Offsets(every, by_partition)


@dataclass(frozen=True)
class TopicEnds:
    """Where each partition of a topic began and ended when the replay started."""

    topic: str
    low: Mapping[int, int]
    high: Mapping[int, int]

    @property
    def records(self) -> int:
        """An upper bound of the records to read (transaction markers take offsets too)."""
        return sum(self.high[p] - self.low[p] for p in self.high)


def _consumer(config: Mapping[str, Any]) -> Consumer:
    return Consumer(
        {
            **config,
            # Never used to join a group or commit: partitions are assigned by hand.
            "group.id": f"agentflow-replay-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 20,
            "fetch.queue.backoff.ms": 10,
            "log_level": 2,
        }
    )


def topic_ends(config: Mapping[str, Any], topic: str, timeout_s: float = 10.0) -> TopicEnds:
    """The current low and high watermarks of every partition of ``topic``."""
    consumer = _consumer(config)
    try:
        try:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        except KafkaException as exc:
            raise ReplayError(f"cannot reach the broker to read {topic}: {exc}") from None
        if meta is None or meta.error is not None or not meta.partitions:
            raise ReplayError(
                f"topic {topic} does not exist: check AGENTFLOW_TOPIC_PREFIX and the broker"
            )
        low: dict[int, int] = {}
        high: dict[int, int] = {}
        for p in sorted(meta.partitions):
            low[p], high[p] = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=timeout_s
            )
        return TopicEnds(topic, low, high)
    finally:
        consumer.close()


def read_records(
    config: Mapping[str, Any],
    ends: TopicEnds,
    role: str,
    on_record: Callable[[int], None] | None = None,
    timeout_s: float = 600.0,
) -> Iterator[Record]:
    """Every committed record of ``ends.topic`` below the captured ends, each partition in
    offset order (partitions interleaved), as :class:`Record` of ``role``. ``on_record`` gets
    each record's offset, for progress."""
    open_parts = {p for p in ends.high if ends.high[p] > ends.low[p]}
    if not open_parts:
        return
    consumer = _consumer(config)
    try:
        consumer.assign([TopicPartition(ends.topic, p, OFFSET_BEGINNING) for p in open_parts])
        deadline = time.monotonic() + timeout_s
        while open_parts:
            if time.monotonic() > deadline:
                raise ReplayError(f"reading {ends.topic} took over {timeout_s:g}s")
            for msg in consumer.consume(1000, 0.1):
                err, partition = msg.error(), msg.partition() or 0
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        open_parts.discard(partition)
                        continue
                    raise ReplayError(f"reading {ends.topic}: {err.str()}")
                offset = msg.offset() or 0
                if partition not in open_parts or offset >= ends.high[partition]:
                    open_parts.discard(partition)
                    continue
                if offset >= ends.high[partition] - 1:
                    open_parts.discard(partition)
                if on_record is not None:
                    on_record(offset)
                yield record_of(msg, role)
    finally:
        consumer.close()


def latest_values(config: Mapping[str, Any], ends: TopicEnds) -> dict[bytes, bytes]:
    """Each key's latest value on a (compacted) changelog, up to ``ends``; a tombstone
    removes its key."""
    latest: dict[bytes, bytes] = {}
    for record in read_records(config, ends, "changelog"):
        if record.key is None:
            continue
        if record.value is None:
            latest.pop(record.key, None)
        else:
            latest[record.key] = record.value
    return latest
