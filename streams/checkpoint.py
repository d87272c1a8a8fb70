"""The checkpoint: how the host makes a batch of processed records durable.

Commit order, and the code below follows it step by step:

1. **Outputs** were produced while the records were processed (inside the open transaction,
   under exactly-once).
2. **Changelogs.** Each table key written since the last checkpoint is produced once, with its
   latest value (None deletes), to the table's changelog topic at the input's partition.
3. **Offsets.** The next offset of every consumed input partition is made durable by the
   :class:`~streams.committer.Committer`: sent to the transaction with the consumer's group
   metadata (so a zombie whose group generation is stale is fenced), or, under at-least-once,
   committed synchronously after the producer is flushed.
4. **Commit** the transaction. Outputs, changelog records and offsets become visible to
   ``read_committed`` consumers together, or not at all.
5. **Stores.** Only now is each table partition written, in one ``WriteBatch`` holding the
   data and the offset of the last changelog record it produced. So a store never holds a
   write whose transaction was aborted. A crash between 4 and 5 leaves a store behind its
   changelog; restore replays the gap (``streams.recovery``).

The host pipelines this (``streams.commit_flow``): it runs step 2 on its own thread and
freezes each partition's writes into a *committing* layer; a committer thread runs steps 3
and 4; meanwhile the host processes the next records into a new *pending* layer, and holds
what they emit until the commit is done and the next transaction begins; then step 5 runs on
the host's thread. Reads see pending, then committing, then the stores. So nothing of the next
checkpoint enters this transaction, and a failure of either discards both.

If step 2, 3 or 4 fails, the caller aborts (:meth:`Committer.abort`), discards the
checkpoint's pending writes and rewinds its consumer to the committed offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from streams.committer import Committer
from streams.produce import produce
from streams.tables import PartitionState


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


@dataclass
class OpenCheckpoint:
    """A checkpoint past step 2: its changelog records are in the transaction and its
    partitions' writes are frozen (:meth:`PartitionState.freeze`)."""

    states: Mapping[int, PartitionState]
    encoded: dict[int, dict[str, dict[bytes, bytes | None]]]
    positions: list[TopicPartition]
    changelog_records: int
    started: float
    capture: _OffsetCapture


class Checkpoint:
    """Commits what the host processed since the last checkpoint, in the documented order.

    :meth:`commit` runs every step. The host splits it: :meth:`start` (steps 2, on its own
    thread, since it produces), :meth:`make_durable` (steps 3 and 4, which wait on the broker
    and release the GIL: a committer thread runs them while the host processes the next
    records into a new pending layer, whose outputs wait for the next transaction), and
    :meth:`finish` (step 5).
    """

    def __init__(self, committer: Committer, call_timeout_s: float) -> None:
        """``call_timeout_s``: what each of steps 3 and 4 is given
        (``AGENTFLOW_COMMIT_CALL_TIMEOUT_MS``)."""
        self.committer = committer
        self.call_timeout_s = call_timeout_s

    def commit(
        self,
        states: Mapping[int, PartitionState],
        offsets: Mapping[tuple[str, int], int],
    ) -> CommitResult:
        """Every step, in order, on the caller's thread."""
        checkpoint = self.start(states, offsets)
        self.make_durable(checkpoint)
        return self.finish(checkpoint)

    def start(
        self, states: Mapping[int, PartitionState], offsets: Mapping[tuple[str, int], int]
    ) -> OpenCheckpoint:
        """Step 2: changelogs, one record per written key, latest value only."""
        started = time.monotonic()
        producer = self.committer.producer
        capture = _OffsetCapture()
        encoded = {p: state.freeze() for p, state in states.items()}
        changelog_records = 0
        for partition, tables in encoded.items():
            stores = states[partition].stores
            for table, changes in tables.items():
                topic = stores[table].changelog_topic
                last = len(changes) - 1
                for i, (key, value) in enumerate(changes.items()):
                    if i == last:
                        on_delivery = capture.callback(table, partition)
                        produce(producer, topic, value, key, partition=partition,
                                on_delivery=on_delivery)  # fmt: skip
                    else:
                        produce(producer, topic, value, key, partition=partition)
                changelog_records += len(changes)
        positions = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        return OpenCheckpoint(states, encoded, positions, changelog_records, started, capture)

    def make_durable(self, checkpoint: OpenCheckpoint) -> None:
        """Steps 3 and 4: offsets and commit, as the guarantee requires."""
        self.committer.commit(checkpoint.positions, self.call_timeout_s)

    def finish(self, checkpoint: OpenCheckpoint) -> CommitResult:
        """Step 5: stores, each in one WriteBatch with its changelog offset."""
        offsets = checkpoint.capture.offsets
        for partition, tables in checkpoint.encoded.items():
            applied = {t: offsets[(t, p)] for t, p in offsets if p == partition}
            checkpoint.states[partition].flush(tables, applied)
        return CommitResult(
            time.monotonic() - checkpoint.started,
            checkpoint.changelog_records,
            len(checkpoint.positions),
        )
