"""The runner's bookkeeping of commands in flight, after Confluent's Parallel Consumer.

- :class:`PartitionOffsets`: offsets received from one partition. The committable offset is
  the lowest unfinished one (or the next after the highest received), so a crash redelivers
  every command that had not finished; those finished past it are remembered separately (the
  ledger's done markers), so they are not run again.

What waits to run, and in which order, is :mod:`agents.scheduling`.
"""

from __future__ import annotations

import heapq


class PartitionOffsets:
    """Received and finished offsets of one partition."""

    def __init__(self) -> None:
        self._open: set[int] = set()
        self._heap: list[int] = []
        self._next: int | None = None
        #: Finished offsets past the lowest unfinished one -> command id.
        self.finished_ahead: dict[int, str] = {}

    def received(self, offset: int) -> None:
        self._open.add(offset)
        heapq.heappush(self._heap, offset)
        if self._next is None or offset >= self._next:
            self._next = offset + 1

    def finished(self, offset: int, command_id: str) -> None:
        self._open.discard(offset)
        self.finished_ahead[offset] = command_id

    @property
    def open_count(self) -> int:
        return len(self._open)

    def committable(self) -> int | None:
        """The offset to commit: the lowest unfinished, or one past the highest received;
        None before anything was received."""
        heap = self._heap
        while heap and heap[0] not in self._open:
            heapq.heappop(heap)
        return heap[0] if heap else self._next

    def settle(self, committed: int) -> list[str]:
        """Forget finished offsets below ``committed``; their command ids."""
        below = [o for o in self.finished_ahead if o < committed]
        return [self.finished_ahead.pop(o) for o in below]
