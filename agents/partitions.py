"""The steps partitions a runner owns: each one's ledger store, offsets and done markers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

from agents.inflight import PartitionOffsets
from processors.contract import Delete, Put
from processors.steps import LEDGER_TABLE, done_key
from streams.tables import PartitionState


@dataclass
class OwnedPartition:
    """One partition of the steps topic, while the runner owns it.

    ``epoch`` names the work started for it; it changes on every reset (an abort, a revoke),
    and is never reused, so a step that ends after its partition moved on cannot answer.
    """

    state: PartitionState
    epoch: int
    offsets: PartitionOffsets = field(default_factory=PartitionOffsets)
    #: Done markers written to the ledger, by offset.
    marked: dict[int, str] = field(default_factory=dict)
    #: The offset last committed; None before the first commit.
    committed: int | None = None

    def reset(self, epoch: int) -> None:
        """Forget the work since the last commit; the store drops its uncommitted writes."""
        self.epoch = epoch
        self.offsets = PartitionOffsets()
        self.marked = {}
        self.committed = None
        self.state.discard()

    def position(self) -> int | None:
        """The offset this commit should make durable (None: nothing new), after writing the
        done markers it needs: finished commands past it are remembered (a redelivery skips
        them), those it passed are forgotten."""
        committable = self.offsets.committable()
        if committable is None:
            return None
        marked = self.marked
        writes: list[Put | Delete] = []
        for offset in [o for o in marked if o < committable]:
            writes.append(Delete(LEDGER_TABLE, done_key(marked.pop(offset))))
        self.offsets.settle(committable)
        for offset, command_id in self.offsets.finished_ahead.items():
            if offset not in marked:
                marked[offset] = command_id
                writes.append(Put(LEDGER_TABLE, done_key(command_id), {"offset": offset}))
        if writes:
            self.state.apply(tuple(writes))
        return committable if committable != self.committed else None


def committed_lag(
    consumer: Consumer, topic: str, owned: Mapping[int, OwnedPartition]
) -> dict[str, int]:
    """Records between each owned partition's committed offset and its end, by
    ``topic[partition]`` (the consumer's cached high watermarks; no request)."""
    lag: dict[str, int] = {}
    for partition, part in owned.items():
        try:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        except KafkaException:
            continue
        if high >= 0 and part.committed is not None:
            lag[f"{topic}[{partition}]"] = max(high - part.committed, 0)
    return lag


class PartitionPause:
    """Flow control: past ``max_buffered`` waiting commands the runner pauses its partitions,
    and resumes them at half. It keeps polling meanwhile, so the group never sees it stall."""

    def __init__(self, max_buffered: int) -> None:
        self.max_buffered = max_buffered
        self.paused = False

    def update(self, consumer: Consumer, assigned: list[TopicPartition], buffered: int) -> bool:
        """Pause or resume as ``buffered`` says; True if it paused just now."""
        if not self.paused and buffered >= self.max_buffered:
            if assigned:
                consumer.pause(assigned)
                self.paused = True
                return True
        elif self.paused and buffered <= self.max_buffered // 2:
            if assigned:
                consumer.resume(assigned)
            self.paused = False
        return False
