"""The runner's bookkeeping of commands in flight, after Confluent's Parallel Consumer.

- :class:`PartitionOffsets`: offsets received from one partition. The committable offset is
  the lowest unfinished one (or the next after the highest received), so a crash redelivers
  every command that had not finished; those finished past it are remembered separately (the
  ledger's done markers), so they are not run again.
- :class:`WorkQueue`: commands waiting to run, in order per key (one in flight per workflow),
  concurrent across keys, within a global and a per-tenant bound.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


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


@dataclass
class Pending(Generic[T]):
    """A command waiting for, or holding, a slot."""

    partition: int
    offset: int
    key: bytes
    tenant: str
    item: T


@dataclass
class WorkQueue(Generic[T]):
    """Waiting commands per key; :meth:`ready` starts what the bounds allow."""

    max_in_flight: int
    max_per_tenant: int
    in_flight: int = 0
    buffered: int = 0
    _by_key: dict[bytes, deque[Pending[T]]] = field(default_factory=dict)
    _busy_keys: set[bytes] = field(default_factory=set)
    _runnable: deque[bytes] = field(default_factory=deque)
    _tenant_in_flight: dict[str, int] = field(default_factory=dict)

    def add(self, pending: Pending[T]) -> None:
        queue = self._by_key.get(pending.key)
        if queue is None:
            queue = self._by_key[pending.key] = deque()
            if pending.key not in self._busy_keys:
                self._runnable.append(pending.key)
        queue.append(pending)
        self.buffered += 1

    def ready(self) -> Iterator[Pending[T]]:
        """Start waiting commands, in arrival order per key, while the bounds allow."""
        skipped: list[bytes] = []
        while self._runnable and self.in_flight < self.max_in_flight:
            key = self._runnable.popleft()
            queue = self._by_key[key]
            head = queue[0]
            if self._tenant_in_flight.get(head.tenant, 0) >= self.max_per_tenant:
                skipped.append(key)  # its tenant is at its bound: others go first
                continue
            queue.popleft()
            if not queue:
                del self._by_key[key]
            self._busy_keys.add(key)
            self.buffered -= 1
            self.in_flight += 1
            self._tenant_in_flight[head.tenant] = self._tenant_in_flight.get(head.tenant, 0) + 1
            yield head
        self._runnable.extendleft(reversed(skipped))

    def done(self, pending: Pending[T]) -> None:
        """``pending`` finished (or was cancelled): its key and slots are free again."""
        self._busy_keys.discard(pending.key)
        self.in_flight -= 1
        left = self._tenant_in_flight[pending.tenant] - 1
        if left:
            self._tenant_in_flight[pending.tenant] = left
        else:
            del self._tenant_in_flight[pending.tenant]
        if pending.key in self._by_key:
            self._runnable.append(pending.key)

    def drop_partition(self, partition: int) -> int:
        """Forget waiting commands of ``partition`` (revoked); how many."""
        dropped = 0
        for key in list(self._by_key):
            queue = self._by_key[key]
            kept = deque(p for p in queue if p.partition != partition)
            dropped += len(queue) - len(kept)
            if kept:
                self._by_key[key] = kept
            else:
                del self._by_key[key]
        self._runnable = deque(k for k in self._runnable if k in self._by_key)
        self.buffered -= dropped
        return dropped
