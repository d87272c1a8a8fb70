"""Restoring table partitions from their compacted changelog topics.

A store is restored when its input partition is assigned, before any record of that partition
is processed. It reads with ``read_committed`` from the offset after the one the store last
applied, or from the beginning when there is no store or the store cannot be trusted:

- it holds data but no recorded changelog offset (it was not written by this host);
- it recorded another changelog topic;
- its recorded offset is at or past the changelog's end offset: the store is ahead of what
  Kafka committed (the changelog was truncated or recreated).

An untrusted store is wiped and rebuilt. Stores are only written after their transaction
commits (see ``streams.checkpoint``), so a trusted store never holds an aborted write.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from processors.contract import TableSpec
from processors.deployment import Deployment
from streams.state_cache import StateCache
from streams.tables import PartitionState, StoreMemory, TableStore

log = logging.getLogger("agentflow.host")

# Records per restore write (and consume call). 5k rather than 20k: the same restore rate
# (a bit better), and a quarter of the transient memory (2 KB states: 329 vs 721 MiB peak
# RSS restoring 1M of them).
_CHUNK = 5_000
_IDLE_LIMIT_S = 60.0


@dataclass(frozen=True)
class RestoreReport:
    table: str
    partition: int
    records: int
    seconds: float
    from_offset: int | None
    rebuilt: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "partition": self.partition,
            "records": self.records,
            "seconds": round(self.seconds, 4),
            "from_offset": self.from_offset,
            "rebuilt": self.rebuilt,
            "reason": self.reason,
        }


def _distrust_reason(store: TableStore, high: int) -> str | None:
    recorded = store.changelog_offset
    if store.recorded_topic not in (None, store.changelog_topic):
        return f"store belongs to changelog {store.recorded_topic}"
    if recorded is None:
        return None if store.is_empty() else "store has data but no changelog offset"
    if recorded >= high:
        return f"store is ahead of its changelog (offset {recorded} >= end {high})"
    return None


class Restorer:
    """Reads changelog partitions into stores with one dedicated, group-less consumer."""

    def __init__(self, consumer_config: dict[str, Any]) -> None:
        self._consumer = Consumer(consumer_config)

    def restore(self, store: TableStore, partition: int) -> tuple[TableStore, RestoreReport]:
        started = time.monotonic()
        tp = TopicPartition(store.changelog_topic, partition)
        low, high = _watermarks(self._consumer, tp)
        reason = _distrust_reason(store, high)
        rebuilt = reason is not None
        if rebuilt:
            store = store.wipe()
        recorded = store.changelog_offset
        start = recorded + 1 if recorded is not None else low
        if start >= high:
            return store, RestoreReport(
                store.name,
                partition,
                0,
                time.monotonic() - started,
                start,
                rebuilt,
                reason or "up to date",
            )
        count = self._read_into(store, partition, recorded)
        report = RestoreReport(
            store.name,
            partition,
            count,
            time.monotonic() - started,
            start,
            rebuilt,
            reason or "caught up from changelog",
        )
        return store, report

    def _read_into(self, store: TableStore, partition: int, recorded: int | None) -> int:
        start = recorded + 1 if recorded is not None else OFFSET_BEGINNING
        count = 0
        for chunk, last_offset, records in read_changelog(
            self._consumer, store.changelog_topic, partition, start
        ):
            store.write(chunk, last_offset)
            count += records
        return count

    def close(self) -> None:
        self._consumer.close()


def _watermarks(consumer: Consumer, tp: TopicPartition) -> tuple[int, int]:
    """``tp``'s low and high offsets, asking again while the cluster recovers: a broker that
    died leaves requests to it failing (``_DESTROY_BROKER``, ``_TRANSPORT``) until the
    partition's new leader is known, which is no reason to stop a worker."""
    deadline = time.monotonic() + _IDLE_LIMIT_S
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=10.0)
            return int(low), int(high)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            fatal = isinstance(err, KafkaError) and err.fatal()
            if fatal or time.monotonic() > deadline:
                raise
            log.warning("the end of %s[%d] is not known yet (%s); asking again",
                        tp.topic, tp.partition, exc)  # fmt: skip
            # A group-less consumer refreshes its metadata only every few minutes: ask for
            # the topic's now, or it keeps the dead leader (``_UNKNOWN_PARTITION``) that long.
            with contextlib.suppress(KafkaException):
                consumer.list_topics(tp.topic, timeout=5.0)
            time.sleep(0.5)


def open_partition_state(
    restorer: Restorer,
    base: Path,
    tables: Mapping[str, TableSpec],
    deployment: Deployment,
    partition: int,
    on_restore: Callable[[RestoreReport], None],
    cache: StateCache | None = None,
    memory: StoreMemory | None = None,
) -> PartitionState:
    """The tables of one input partition, each opened under ``base/<table>/p<partition>`` and
    restored from its changelog before the partition's first record is processed."""
    stores: dict[str, TableStore] = {}
    for name, spec in tables.items():
        path = base / name / f"p{partition}"
        store = TableStore(path, name, spec.codec, deployment.changelog(name), memory=memory)
        store, report = restorer.restore(store, partition)
        stores[name] = store
        on_restore(report)
        log.info(
            "restored %s[%d]: %d records in %.2fs (%s)",
            name,
            partition,
            report.records,
            report.seconds,
            report.reason,
        )
    return PartitionState(partition, stores, cache)


def _next_records(consumer: Consumer) -> list[Any]:
    """What the consumer has queued, up to a chunk, without waiting; if nothing, wait for one
    record (0.5 s at most). ``consume(_CHUNK, 0.5)`` waited out the whole 0.5 s whenever a
    partition had less than a chunk left: at least that long for every table partition."""
    msgs: list[Any] = consumer.consume(_CHUNK, timeout=0)
    if msgs:
        return msgs
    first = consumer.poll(0.5)
    return [first] if first is not None else []


def read_changelog(
    consumer: Consumer, topic: str, partition: int, start: int
) -> Iterator[tuple[dict[bytes, bytes | None], int, int]]:
    """Committed changelog records of one partition from ``start`` to its end, in chunks:
    ``({key: value or None}, offset of the chunk's last record, records read)``."""
    consumer.assign([TopicPartition(topic, partition, start)])
    changes: dict[bytes, bytes | None] = {}
    last_offset = -1
    records = 0
    idle_since = time.monotonic()
    try:
        while True:
            msgs = _next_records(consumer)
            if not msgs and time.monotonic() - idle_since > _IDLE_LIMIT_S:
                raise TimeoutError(
                    f"reading {topic}[{partition}] saw no end in {_IDLE_LIMIT_S:.0f}s; "
                    "is an old transaction still open?"
                )
            at_end = False
            for msg in msgs:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_end = True
                        continue
                    if err.fatal():
                        raise RuntimeError(f"changelog consumer error: {err.str()}")
                    # Transport errors while a leader moves: librdkafka recovers on its own,
                    # and the idle limit bounds the wait.
                    log.warning("reading %s[%d]: %s", topic, partition, err.str())
                    continue
                key = msg.key()
                if key is not None:
                    changes[key] = msg.value()
                    last_offset = msg.offset() or 0
                    records += 1
            if msgs:
                idle_since = time.monotonic()
            if changes and (at_end or records >= _CHUNK):
                yield changes, last_offset, records
                changes, records = {}, 0
            if at_end:
                return
    finally:
        consumer.unassign()
