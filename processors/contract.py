"""The processor contract: what a host hands a processor, and what the processor hands back.

A processor is a pure function of (record, state, context). It does no I/O and reads no clock:
``Context.now_ms`` is the only time it sees. It returns a :class:`Result` that names the records
to write (by topic *role*, not topic name) and the table writes to make. The host, the test
driver and the replay tool all feed processors through this contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from processors.deployment import Deployment

#: Kafka headers, in order; a header's value may be null.
Headers = tuple[tuple[str, bytes | None], ...]
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record. Immutable; use :func:`dataclasses.replace` for a changed copy."""

    role: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name``, or None."""
        found: bytes | None = None
        for k, v in self.headers:
            if k == name:
                found = v
        return found


@dataclass(frozen=True, slots=True)
class Emit:
    """A record to produce to the topic that plays ``role``.

    ``partition`` is None for the normal case: the host partitions by key with the
    Java-compatible murmur2 partitioner, so keys co-partition across topics. Set it only to
    route a record to a specific partition (for example, re-routing a mis-partitioned record).

    ``tag`` is never produced: it is a short label the host counts per role in its metrics
    (the decision kind of an audit record, the reason code of a quarantine record).
    """

    role: str
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    partition: int | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Put:
    """Write ``value`` (a decoded value; the table's codec encodes it) under ``key``."""

    table: str
    key: bytes
    value: Any


@dataclass(frozen=True, slots=True)
class Delete:
    table: str
    key: bytes


@dataclass(frozen=True, slots=True)
class Result:
    """What a processor decided: records to emit and table writes, applied in order."""

    emits: tuple[Emit, ...] = ()
    writes: tuple[Put | Delete, ...] = ()

    @staticmethod
    def empty() -> Result:
        return _EMPTY


_EMPTY = Result()


@dataclass(frozen=True, slots=True)
class Context:
    """What a processor may know besides the record and state: the time, the partition, and
    the deployment (topics by role and the partition count, see
    :class:`~processors.deployment.Deployment`)."""

    now_ms: int
    partition: int
    deployment: Deployment


class StateView(Protocol):
    """Read access to the tables of the record's partition, including this batch's writes."""

    def get(self, table: str, key: bytes) -> Any | None:
        """The value under ``key``, or None. It is the caller's own copy: changing it changes
        nothing until it is written back with a :class:`Put`."""
        ...

    def range(self, table: str, start: bytes, end: bytes) -> Iterator[tuple[bytes, Any]]:
        """Entries with ``start <= key < end`` in key order."""
        ...


@runtime_checkable
class Codec(Protocol[V]):
    """Encodes table values to bytes for RocksDB and the changelog, and back.

    A codec of mutable values may also define ``copy(value) -> value``, a cheaper private
    copy than decoding its encoding, which the host then uses to hand out a value written
    earlier in the same checkpoint.
    """

    def encode(self, value: V) -> bytes: ...

    def decode(self, data: bytes) -> V: ...


def private_copy(codec: Codec[Any], value: Any) -> Any:
    """A copy of ``value`` its reader may change: the codec's ``copy`` if it has one, else a
    decode of its encoding (what a ``StateView.get`` hands out for a value it holds)."""
    copy = getattr(codec, "copy", None)
    return copy(value) if copy is not None else codec.decode(codec.encode(value))


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table a processor keeps: its name and the codec for its values."""

    name: str
    codec: Codec[Any]


class Processor(Protocol):
    """A pure stream processor. Hosts call ``process`` for each record of ``input_roles``.

    ``output_roles`` names every role it may emit to; a host checks at start-up that each maps
    to an existing topic, as it does for the quarantine role, where a record a processor raises
    on goes.

    ``punctuate_interval_ms`` > 0 asks the host to call ``punctuate`` once per assigned
    partition on that wall-clock period; its result goes into the same transaction as the
    records processed around it.
    """

    # Read-only: a processor may compute them (a pipeline takes its tables from its parts).
    @property
    def name(self) -> str: ...

    @property
    def input_roles(self) -> tuple[str, ...]: ...

    @property
    def output_roles(self) -> tuple[str, ...]: ...

    @property
    def tables(self) -> tuple[TableSpec, ...]: ...

    @property
    def punctuate_interval_ms(self) -> int: ...

    def process(self, record: Record, state: StateView, ctx: Context) -> Result: ...

    def punctuate(self, state: StateView, ctx: Context) -> Result: ...
