"""Table partitions on real RocksDB: pending writes, atomic flushes, range reads, trust."""

from __future__ import annotations

from pathlib import Path

from processors.codecs import IntCodec, JsonCodec
from processors.contract import Delete, Put
from streams.recovery import _distrust_reason
from streams.tables import PartitionState, StoreMemory, TableStore


def _store(tmp_path: Path, name: str = "t") -> TableStore:
    return TableStore(tmp_path / name, name, IntCodec(), f"app.{name}.changelog")


def test_should_see_earlier_writes_of_the_same_checkpoint(tmp_path: Path) -> None:
    state = PartitionState(0, {"t": _store(tmp_path)})
    state.apply((Put("t", b"a", 1), Put("t", b"b", 2)))
    state.apply((Delete("t", b"b"),))
    assert state.get("t", b"a") == 1
    assert state.get("t", b"b") is None
    assert state.stores["t"].get_raw(b"a") is None  # nothing on disk before the flush
    state.close()


def test_should_hand_out_private_copies_of_pending_and_stored_values(tmp_path: Path) -> None:
    # JsonCodec has no copy(): a pending value is copied by a decode of its encoding.
    state = PartitionState(0, {"t": TableStore(tmp_path / "t", "t", JsonCodec(), "c")})
    state.apply((Put("t", b"a", {"n": [1]}),))
    mine = state.get("t", b"a")
    assert mine is not None
    mine["n"].append(2)
    assert state.get("t", b"a") == {"n": [1]}
    assert [v for _, v in state.range("t", b"a", b"b")] == [{"n": [1]}]
    state.flush(state.freeze())
    stored = state.get("t", b"a")
    assert stored is not None
    stored["n"].append(3)
    assert state.get("t", b"a") == {"n": [1]}
    state.close()


def test_should_copy_a_pending_value_with_the_codecs_copy(tmp_path: Path) -> None:
    class CountingCodec(JsonCodec):
        copies = 0

        def copy(self, value: dict[str, int]) -> dict[str, int]:
            CountingCodec.copies += 1
            return dict(value)

    state = PartitionState(0, {"t": TableStore(tmp_path / "t", "t", CountingCodec(), "c")})
    state.apply((Put("t", b"a", {"n": 1}),))
    pending = state.get("t", b"a")
    assert pending is not None
    pending["n"] = 2
    assert state.get("t", b"a") == {"n": 1}
    assert CountingCodec.copies == 2
    state.close()


def test_should_flush_data_and_changelog_offset_in_one_write(tmp_path: Path) -> None:
    store = _store(tmp_path)
    state = PartitionState(0, {"t": store})
    state.apply((Put("t", b"a", 7),))
    state.flush(state.freeze(), {"t": 41})
    assert not state.has_pending()
    assert store.changelog_offset == 41
    assert store.recorded_topic == "app.t.changelog"
    state.close()
    reopened = _store(tmp_path)
    assert IntCodec().decode(reopened.get_raw(b"a") or b"") == 7
    assert reopened.changelog_offset == 41
    reopened.close()


def test_should_discard_pending_writes_when_transaction_aborts(tmp_path: Path) -> None:
    state = PartitionState(0, {"t": _store(tmp_path)})
    state.apply((Put("t", b"a", 1),))
    state.discard()
    assert state.get("t", b"a") is None
    state.close()


def test_should_range_over_store_and_pending_writes_in_key_order(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "j", "j", JsonCodec(), "c")
    state = PartitionState(0, {"j": store})
    state.apply((Put("j", b"k1", "one"), Put("j", b"k3", "three"), Put("j", b"z", "out")))
    state.flush(state.freeze())
    state.apply((Put("j", b"k2", "two"), Delete("j", b"k3")))
    assert list(state.range("j", b"k", b"l")) == [(b"k1", "one"), (b"k2", "two")]
    state.close()


def test_should_distrust_store_ahead_of_its_changelog(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.write({b"a": IntCodec().encode(1)}, 10)
    assert _distrust_reason(store, high=11) is None
    assert "ahead of its changelog" in (_distrust_reason(store, high=10) or "")
    store.close()


def test_should_distrust_store_with_data_but_no_offset(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert _distrust_reason(store, high=0) is None
    store.write({b"a": IntCodec().encode(1)}, None)
    assert _distrust_reason(store, high=5) == "store has data but no changelog offset"
    wiped = store.wipe()
    assert wiped.is_empty() and wiped.changelog_offset is None
    wiped.close()


def test_should_distrust_store_of_another_changelog(tmp_path: Path) -> None:
    store = TableStore(tmp_path / "t", "t", IntCodec(), "old.changelog")
    store.write({b"a": IntCodec().encode(1)}, 3)
    store.close()
    moved = _store(tmp_path)
    assert _distrust_reason(moved, high=100) == "store belongs to changelog old.changelog"
    moved.close()


def test_a_spill_writes_the_earliest_pending_keys_and_reads_stay_the_same(tmp_path: Path) -> None:
    state = PartitionState(0, {"t": _store(tmp_path)})
    state.apply((Put("t", b"a", 1), Put("t", b"b", 2), Put("t", b"c", 3)))
    state.apply((Delete("t", b"b"), Put("t", b"a", 4)))  # a rewrite keeps a's place
    state.spill("t", 2)
    assert state.pending_count("t") == 1
    store = state.stores["t"]
    assert (store.get_raw(b"a"), store.get_raw(b"b"), store.get_raw(b"c")) == (
        IntCodec().encode(4), None, None,
    )  # fmt: skip
    assert [state.get("t", k) for k in (b"a", b"b", b"c")] == [4, None, 3]
    assert list(state.range("t", b"a", b"z")) == [(b"a", 4), (b"c", 3)]
    state.close()


def test_stores_sharing_a_memory_budget_charge_their_memtables_to_one_cache(
    tmp_path: Path,
) -> None:
    memory = StoreMemory.bounded(8 << 20)
    stores = [
        TableStore(tmp_path / n, n, IntCodec(), f"app.{n}.changelog", memory=memory)
        for n in ("a", "b")
    ]
    assert memory.cache.get_usage() < 1 << 20
    for i, store in enumerate(stores):
        store.write({f"k{j}".encode(): bytes(100) for j in range(5000)}, changelog_offset=i)
    # Both stores' memtables are counted in the one cache (RocksDB charges them in 1 MiB
    # reservations): the bound covers the worker's stores together.
    assert memory.cache.get_usage() >= 2 << 20
    assert stores[1].get_raw(b"k4999") == bytes(100) and stores[0].changelog_offset == 0
    reopened = stores[0].wipe()
    assert reopened.memory is memory and reopened.is_empty()
    for store in (reopened, stores[1]):
        store.close()
