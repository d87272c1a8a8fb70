"""Table storage: one RocksDB database (rocksdict) per table and input partition.

Split by responsibility, in the manner of Quix Streams:

- :class:`TableStore` is one table partition on disk. Data lives in the default column family;
  the changelog topic and the last changelog offset applied live in a ``meta`` column family
  and are written in the same ``WriteBatch`` as the data, so they can never disagree.
- :class:`PartitionState` is one input partition's view over all its tables for the current
  checkpoint. Writes stay in memory, readable by later records, until the checkpoint flushes
  them in one ``WriteBatch`` per table, after the Kafka transaction has committed. Flushed
  values stay decoded in its :class:`~streams.state_cache.StateCache`, if it has one.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rocksdict import (
    AccessType,
    BlockBasedOptions,
    Cache,
    Options,
    Rdict,
    WriteBatch,
    WriteBufferManager,
    WriteOptions,
)

from processors.contract import Codec, Delete, Put, private_copy
from streams.state_cache import MISSING, StateCache

_META_CF = "meta"
_OFFSET_KEY = b"changelog_offset"
_TOPIC_KEY = b"changelog_topic"
_DELETED = object()


@dataclass(frozen=True)
class StoreMemory:
    """One memory budget for every RocksDB store of a process, as Kafka Streams' bounded
    memory config does: a shared block cache, with the memtables' memory charged to it.

    Without it each store (a table of a partition) has its own 32 MiB block cache and its own
    memtables, so a worker's RocksDB memory grows with tables x partitions and with how much of
    the stores the traffic reads.
    """

    cache: Cache
    write_buffers: WriteBufferManager

    @classmethod
    def bounded(cls, total_bytes: int) -> StoreMemory:
        """Block cache and memtables together within about ``total_bytes``; memtables may take
        up to half of it before RocksDB flushes them."""
        cache = Cache(total_bytes)
        write_buffers = WriteBufferManager.new_write_buffer_manager_with_cache(
            total_bytes // 2, False, cache
        )
        return cls(cache, write_buffers)


def _options(memory: StoreMemory | None = None) -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    # 16 MiB memtables (RocksDB's default is 64 MiB, two per column family): one worker keeps
    # a database per table and partition, so the default let memtables alone take ~0.5 GiB
    # while restoring 1M workflow states (bench: peak RSS 329 -> 261 MiB, restore 119k ->
    # 135k records/s).
    opts.set_write_buffer_size(16 << 20)
    # No write-ahead log (see _write_options): the data and the meta column family must then
    # reach disk together, or a crash could keep an offset without its data.
    opts.set_atomic_flush(True)
    if memory is not None:
        table = BlockBasedOptions()
        table.set_block_cache(memory.cache)
        opts.set_block_based_table_factory(table)
        opts.set_write_buffer_manager(memory.write_buffers)
    return opts


def _write_options() -> WriteOptions:
    # The changelog is the log. A crash loses what sat in memtables; the store then reopens at
    # an older, consistent point (data and recorded offset flushed atomically) and restore
    # replays the changelog from there. A clean close flushes the memtables.
    opts = WriteOptions()
    opts.disable_wal = True  # type: ignore[assignment]  # a property; the stubs say method
    return opts


class TableStore:
    """One table partition in RocksDB, with its changelog bookkeeping."""

    def __init__(
        self,
        path: Path,
        name: str,
        codec: Codec[Any],
        changelog_topic: str,
        read_only: bool = False,
        memory: StoreMemory | None = None,
    ) -> None:
        self.path = path
        self.memory = memory
        self.name = name
        self.codec = codec
        self.changelog_topic = changelog_topic
        path.parent.mkdir(parents=True, exist_ok=True)
        # Read-only opens take no lock, so tools can read a store a running worker owns; they
        # see what it has committed (its writes land only after each transaction commits).
        access = {"access_type": AccessType.read_only()} if read_only else {}
        self._db = Rdict(
            str(path),
            _options(memory),
            column_families={_META_CF: _options(memory)},
            **access,
        )
        self._meta = self._db.get_column_family(_META_CF)
        self._meta_handle = self._db.get_column_family_handle(_META_CF)
        self._write_opts = _write_options()

    # -- reads --------------------------------------------------------------------------
    def get_raw(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def range_raw(self, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._db.items(from_key=start):
            if not isinstance(key, bytes) or key >= end:
                return
            yield key, value

    def items_raw(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._db.items():
            if isinstance(key, bytes):
                yield key, value

    def is_empty(self) -> bool:
        it = self._db.iter()
        it.seek_to_first()
        return not it.valid()

    @property
    def changelog_offset(self) -> int | None:
        """The offset of the last changelog record this store has applied, if any."""
        raw = self._meta.get(_OFFSET_KEY)
        return int(raw) if raw is not None else None

    @property
    def recorded_topic(self) -> str | None:
        raw = self._meta.get(_TOPIC_KEY)
        return raw.decode() if raw is not None else None

    # -- writes -------------------------------------------------------------------------
    def write(self, changes: Mapping[bytes, bytes | None], changelog_offset: int | None) -> None:
        """Apply ``changes`` (None deletes) and the applied offset in one atomic WriteBatch."""
        batch = WriteBatch(raw_mode=True)
        for key, value in changes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if changelog_offset is not None:
            batch.put(_OFFSET_KEY, str(changelog_offset).encode(), self._meta_handle)
            batch.put(_TOPIC_KEY, self.changelog_topic.encode(), self._meta_handle)
        self._db.write(batch, self._write_opts)

    def close(self) -> None:
        del self._meta, self._meta_handle
        self._db.close()

    def wipe(self) -> TableStore:
        """Delete this store from disk and return a fresh, empty one at the same path."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
        return TableStore(
            self.path, self.name, self.codec, self.changelog_topic, memory=self.memory
        )


class PartitionState:
    """All tables of one input partition: the stores, with the writes not yet flushed on top.

    It implements the processors' ``StateView``. Writes wait in two layers: *pending*, the
    checkpoint being built, and *committing*, a checkpoint :meth:`freeze` closed whose Kafka
    transaction is under way (the host builds the next one meanwhile). Reads see pending, then
    committing, then the cache, then the store. :meth:`flush` writes the committing layer to
    the stores once its transaction has committed; :meth:`discard` drops both on an abort.
    """

    def __init__(
        self, partition: int, stores: Mapping[str, TableStore], cache: StateCache | None = None
    ) -> None:
        self.partition = partition
        self.stores = dict(stores)
        self.cache = cache
        self._pending: dict[str, dict[bytes, Any]] = {name: {} for name in self.stores}
        self._committing: dict[str, dict[bytes, Any]] = {name: {} for name in self.stores}

    def get(self, table: str, key: bytes) -> Any | None:
        """A value the caller owns (see ``StateView.get``): a copy of a write not yet flushed,
        else the committed value taken out of the cache, else a fresh decode from the store.
        So a processor that edits what it read and then fails or decides not to write cannot
        corrupt what a checkpoint will commit, nor what the cache holds."""
        store = self.stores[table]
        for layer in (self._pending[table], self._committing[table]):
            if key in layer:
                value = layer[key]
                return None if value is _DELETED else private_copy(store.codec, value)
        if self.cache is not None and (cached := self.cache.take(table, key)) is not MISSING:
            return cached
        raw = store.get_raw(key)
        return None if raw is None else store.codec.decode(raw)

    def range(self, table: str, start: bytes, end: bytes) -> Iterator[tuple[bytes, Any]]:
        store = self.stores[table]
        merged: dict[bytes, Any] = {
            k: store.codec.decode(v) for k, v in store.range_raw(start, end)
        }
        for layer in (self._committing[table], self._pending[table]):
            for key, value in layer.items():
                if start <= key < end:
                    merged[key] = value if value is _DELETED else private_copy(store.codec, value)
        for key in sorted(merged):
            value = merged[key]
            if value is not _DELETED:
                yield key, value

    def apply(self, writes: tuple[Put | Delete, ...]) -> None:
        for w in writes:
            self._pending[w.table][w.key] = w.value if isinstance(w, Put) else _DELETED

    def has_pending(self) -> bool:
        return any(self._pending.values())

    def freeze(self) -> dict[str, dict[bytes, bytes | None]]:
        """Close the checkpoint being built: its writes become the committing layer, and are
        returned per table, encoded once for the changelog and the store. The previous
        committing layer must have been flushed (or discarded) first."""
        if any(self._committing.values()):
            raise RuntimeError("a checkpoint is still committing on this partition")
        out: dict[str, dict[bytes, bytes | None]] = {}
        for table, pending in self._pending.items():
            if pending:
                codec = self.stores[table].codec
                out[table] = {
                    k: None if v is _DELETED else codec.encode(v) for k, v in pending.items()
                }
        self._committing, self._pending = self._pending, self._committing
        return out

    def flush(
        self,
        encoded: Mapping[str, Mapping[bytes, bytes | None]],
        changelog_offsets: Mapping[str, int] | None = None,
    ) -> None:
        """Write the committed checkpoint (what :meth:`freeze` returned) to the stores, one
        WriteBatch per table, and keep its values decoded in the cache."""
        offsets = changelog_offsets or {}
        for table, changes in encoded.items():
            self.stores[table].write(changes, offsets.get(table))
        if self.cache is not None:
            for table, changes in encoded.items():
                layer = self._committing[table]
                for key, data in changes.items():
                    value = None if data is None else layer[key]
                    self.cache.put(table, key, value, len(data or b""))
        for layer in self._committing.values():
            layer.clear()

    def pending_count(self, table: str) -> int:
        """How many keys of ``table`` have a write not yet flushed."""
        return len(self._pending[table])

    def spill(self, table: str, count: int) -> None:
        """Write the ``count`` earliest-written pending keys of ``table`` to its store and drop
        them from the pending writes. For a state that is never committed (a replay's shadow):
        it keeps its recent writes decoded, and encodes a key only when it leaves."""
        pending = self._pending[table]
        codec = self.stores[table].codec
        leaving = list(itertools.islice(pending, count))
        self.stores[table].write(
            {k: None if pending[k] is _DELETED else codec.encode(pending[k]) for k in leaving},
            None,
        )
        for key in leaving:
            del pending[key]

    def discard(self) -> None:
        """Forget every write not flushed (the transaction was aborted), and the cache with
        them: an abort is rare, and a cache rebuilt from the stores needs no reasoning."""
        for layers in (self._pending, self._committing):
            for layer in layers.values():
                layer.clear()
        if self.cache is not None:
            self.cache.clear()

    def close(self) -> None:
        if self.cache is not None:
            self.cache.clear()
        for store in self.stores.values():
            store.close()
