"""A long-lived read of committed records that survives its own consumer stalling.

After a broker restart, a ``read_committed`` consumer of librdkafka 2.12 (``assign()``, no
group offsets) once stopped fetching for good: it had read every record of the old leader
epoch and none after, while the broker held 960 more committed audits (compare
confluentinc/librdkafka#5153, open). The processes under test were fine; the test's own eyes
were not. :class:`CommittedWatch` keeps the next offset of every partition it reads, and when
nothing arrives for a while although the broker holds more, it replaces the consumer with a
fresh one at exactly those offsets: nothing is read twice and nothing is skipped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from tests.integration.enginekit.readers import reader

STALL_S = 10.0  # no record for this long while the broker holds more: the consumer is stuck


class CommittedWatch:
    """Reads ``topics`` (every partition, from the beginning, read_committed) without end."""

    def __init__(
        self, bootstrap: str, topics: Sequence[str], partitions: int, stall_s: float = STALL_S
    ) -> None:
        self.bootstrap = bootstrap
        self.stall_s = stall_s
        self.next_offsets: dict[tuple[str, int], int] = {
            (t, p): OFFSET_BEGINNING for t in topics for p in range(partitions)
        }
        self.restarts = 0
        self._last_record = time.monotonic()
        self._consumer = self._open()

    def _open(self) -> Consumer:
        consumer = reader(self.bootstrap)
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in self.next_offsets.items()])
        return consumer

    def consume(self, timeout: float) -> list[Message]:
        """The records committed since the last call (errors are left out)."""
        records = [m for m in self._consumer.consume(2000, timeout) if m.error() is None]
        for m in records:
            self.next_offsets[(m.topic() or "", m.partition() or 0)] = (m.offset() or 0) + 1
        now = time.monotonic()
        if records:
            self._last_record = now
        elif now - self._last_record > self.stall_s:
            self._last_record = now
            behind = self._behind()
            if behind != {}:  # None: unknown, and a fresh consumer costs little
                print(
                    f"the watch read nothing for {self.stall_s:g}s while the broker holds more "
                    f"({behind or 'unknown'}); reopening its consumer at the same offsets",
                    file=sys.stderr,
                )
                self._consumer.close()
                self._consumer = self._open()
                self.restarts += 1
        return records

    def _behind(self) -> dict[str, int] | None:
        """``{"topic[p]": records the broker holds past the next offset}``, where more than a
        transaction marker lies between them; None if the broker did not answer."""
        behind: dict[str, int] = {}
        for (topic, partition), offset in self.next_offsets.items():
            try:
                _, end = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=5
                )
            except KafkaException:
                return None
            start = max(offset, 0)
            if end - start > 1:  # one offset can be the marker that ends the last transaction
                behind[f"{topic}[{partition}]"] = end - start
        return behind

    def close(self) -> None:
        self._consumer.close()
