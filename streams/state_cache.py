"""A bounded cache of decoded table values, so a workflow read again soon is not decoded again.

Only committed values are kept: a value goes in when its checkpoint is flushed to the store,
and comes *out* when a processor reads it. The reader gets the cached object itself, with no
copy, and may edit it (the engine does): as it is no longer in the cache, an edit that is never
written, or a write whose transaction aborts, leaves nothing stale behind. A value written
back is put in again at the next flush. The host drops a partition's cache with the partition
(revoke) and on every abort.

The bound is an estimate of memory: each entry counts ``MEMORY_PER_ENCODED_BYTE`` times its
encoded size (a decoded workflow state takes ~3.6 bytes of Python objects per msgpack byte).
Eviction is oldest-first; a read moves a value out, and its write back in at the end.
"""

from __future__ import annotations

from typing import Any, Final

#: Memory a decoded value takes per byte of its encoding (measured on workflow states).
MEMORY_PER_ENCODED_BYTE: Final = 4

MISSING: Final[Any] = object()


class StateCache:
    """Decoded values of one partition's tables, up to ``max_bytes`` (estimated)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: dict[tuple[str, bytes], tuple[Any, int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def take(self, table: str, key: bytes) -> Any:
        """The cached value, removed from the cache, or :data:`MISSING`."""
        entry = self._entries.pop((table, key), None)
        if entry is None:
            self.misses += 1
            return MISSING
        self.hits += 1
        self.size -= entry[1]
        return entry[0]

    def put(self, table: str, key: bytes, value: Any, encoded_size: int) -> None:
        """Keep a committed ``value`` (None: the key was deleted, forget it)."""
        old = self._entries.pop((table, key), None)
        if old is not None:
            self.size -= old[1]
        if value is None or self.max_bytes <= 0:
            return
        cost = encoded_size * MEMORY_PER_ENCODED_BYTE
        self._entries[(table, key)] = (value, cost)
        self.size += cost
        while self.size > self.max_bytes:
            oldest = next(iter(self._entries))
            self.size -= self._entries.pop(oldest)[1]

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0
