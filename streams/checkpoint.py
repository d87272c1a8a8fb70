"""The checkpoint: how the host makes a batch of processed records durable.

Commit order, and the code below follows it step by step:

1. **Outputs** were produced while the records were processed, inside the open transaction.
2. **Changelogs.** Each table key written since the last checkpoint is produced once, with its
   latest value (None deletes), to the table's changelog topic at the input's partition.
3. **Offsets.** The next offset of every consumed input partition is sent to the transaction
   (``send_offsets_to_transaction``, with the consumer's group metadata, so a zombie whose
   group generation is stale is fenced). Under at-least-once there is no transaction: the
   producer is flushed and the offsets are committed synchronously instead.
4. **Commit** the transaction. Outputs, changelog records and offsets become visible to
   ``read_committed`` consumers together, or not at all.
5. **Stores.** Only now is each table partition written, in one ``WriteBatch`` holding the
   data and the offset of the last changelog record it produced. So a store never holds a
   write whose transaction was aborted. A crash between 4 and 5 leaves a store behind its
   changelog; restore replays the gap (``streams.recovery``).

If step 2, 3 or 4 fails, the caller aborts the transaction, discards the checkpoint's
pending writes and rewinds its consumer to the committed offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.runtime import PartitionTask


@dataclass
class CommitResult:
    seconds: float
    changelog_records: int
    offsets: int


@dataclass
class _OffsetCapture:
    """Captures the offset of the last changelog record per (table, partition)."""

    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def callback(self, table: str, partition: int) -> Callable[[Any, Any], None]:
        def on_delivery(err: Any, msg: Any) -> None:
            if err is None:
                self.offsets[(table, partition)] = msg.offset()

        return on_delivery


class Checkpoint:
    """Commits what the host processed since the last checkpoint, in the documented order."""

    def __init__(self, producer: Producer, consumer: Consumer, exactly_once: bool) -> None:
        self._producer = producer
        self._consumer = consumer
        self._exactly_once = exactly_once

    def commit(
        self,
        tasks: Mapping[int, PartitionTask],
        offsets: Mapping[tuple[str, int], int],
        timeout_s: float = 30.0,
    ) -> CommitResult:
        started = time.monotonic()
        # Step 2: changelogs, one record per written key, latest value only.
        capture = _OffsetCapture()
        encoded = {p: task.state.encoded_changes() for p, task in tasks.items()}
        changelog_records = 0
        for partition, tables in encoded.items():
            stores = tasks[partition].state.stores
            for table, changes in tables.items():
                topic = stores[table].changelog_topic
                last = len(changes) - 1
                for i, (key, value) in enumerate(changes.items()):
                    kwargs: dict[str, Any] = {}
                    if i == last:
                        kwargs["on_delivery"] = capture.callback(table, partition)
                    self._produce(topic, key, value, partition, kwargs)
                changelog_records += len(changes)
        # Step 3: offsets.
        positions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        if self._exactly_once:
            if positions:
                self._producer.send_offsets_to_transaction(
                    positions, self._consumer.consumer_group_metadata(), timeout_s
                )
            # Step 4: commit (this flushes the producer and serves delivery callbacks).
            self._producer.commit_transaction(timeout_s)
        else:
            remaining = self._producer.flush(timeout_s)
            if remaining:
                raise TimeoutError(f"{remaining} records were not delivered in {timeout_s}s")
            if positions:
                self._consumer.commit(offsets=positions, asynchronous=False)
        self._producer.poll(0)
        # Step 5: stores, each in one WriteBatch with its changelog offset.
        for partition, tables in encoded.items():
            applied = {t: capture.offsets[(t, p)] for t, p in capture.offsets if p == partition}
            tasks[partition].state.flush(tables, applied)
        return CommitResult(time.monotonic() - started, changelog_records, len(positions))

    def _produce(
        self, topic: str, key: bytes, value: bytes | None, partition: int, kwargs: dict[str, Any]
    ) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, partition=partition, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)
