"""Calling a processor directly, without a host: a dict-backed state view and a context."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from processors.contract import Context, Delete, Put, Result, TableSpec, private_copy
from processors.deployment import Deployment


class MemoryState:
    """A dict-backed ``StateView`` over a processor's tables that applies a Result's writes
    like the host does, and like the host hands out private copies of what it holds."""

    def __init__(self, tables: Sequence[TableSpec]) -> None:
        self.codecs = {t.name: t.codec for t in tables}
        self.tables: dict[str, dict[bytes, Any]] = {t.name: {} for t in tables}

    def get(self, table: str, key: bytes) -> Any | None:
        value = self.tables[table].get(key)
        return None if value is None else private_copy(self.codecs[table], value)

    def range(self, table: str, start: bytes, end: bytes) -> Iterator[tuple[bytes, Any]]:
        held = self.tables[table]
        for key in sorted(held):
            if start <= key < end:
                yield key, private_copy(self.codecs[table], held[key])

    def apply(self, result: Result) -> None:
        for w in result.writes:
            if isinstance(w, Put):
                self.tables[w.table][w.key] = w.value
            elif isinstance(w, Delete):
                self.tables[w.table].pop(w.key, None)


def make_context(now_ms: int, partition: int = 0, deployment: Deployment | None = None) -> Context:
    """The context a host would pass at ``now_ms``; by default in a one-partition deployment
    whose roles map to topics of their own names (so every key is on its home partition)."""
    return Context(now_ms, partition, deployment or Deployment("test", 1))
