"""The decoded-state cache between checkpoints: only committed values, handed out once."""

from __future__ import annotations

from pathlib import Path

from processors.codecs import JsonCodec
from processors.contract import Delete, Put
from streams.state_cache import MEMORY_PER_ENCODED_BYTE, StateCache
from streams.tables import PartitionState, TableStore


def _state(tmp_path: Path, max_bytes: int = 1 << 20) -> PartitionState:
    store = TableStore(tmp_path / "t", "t", JsonCodec(), "c")
    return PartitionState(0, {"t": store}, StateCache(max_bytes))


def _commit(state: PartitionState, *writes: Put | Delete) -> None:
    state.apply(writes)
    state.flush(state.freeze())


def test_a_committed_value_is_handed_out_as_is_and_only_once(tmp_path: Path) -> None:
    state = _state(tmp_path)
    value = {"n": [1]}
    _commit(state, Put("t", b"a", value))
    assert state.cache is not None and len(state.cache) == 1
    first = state.get("t", b"a")
    assert first is value  # no decode, no copy
    assert len(state.cache) == 0 and state.cache.hits == 1
    second = state.get("t", b"a")
    assert second == value and second is not value  # from the store this time
    state.close()


def test_an_edit_that_is_never_written_leaves_nothing_behind(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _commit(state, Put("t", b"a", {"n": [1]}))
    mine = state.get("t", b"a")
    assert mine is not None
    mine["n"].append(2)  # the processor edits, then decides not to write (or raises)
    assert state.get("t", b"a") == {"n": [1]}
    state.close()


def test_a_value_written_back_is_cached_again_at_the_flush_not_before(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _commit(state, Put("t", b"a", {"n": 1}))
    mine = state.get("t", b"a")
    assert mine is not None
    mine["n"] = 2
    state.apply((Put("t", b"a", mine),))
    assert state.cache is not None and len(state.cache) == 0
    state.flush(state.freeze())
    assert state.get("t", b"a") is mine
    state.close()


def test_an_abort_drops_the_cache_and_the_store_has_the_committed_value(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _commit(state, Put("t", b"a", {"n": 1}), Put("t", b"b", {"n": 1}))
    mine = state.get("t", b"a")
    assert mine is not None
    mine["n"] = 2
    state.apply((Put("t", b"a", mine),))
    state.discard()  # the transaction aborted
    assert state.cache is not None and len(state.cache) == 0
    assert state.get("t", b"a") == {"n": 1} and state.get("t", b"b") == {"n": 1}
    state.close()


def test_a_revoked_partition_drops_its_cache_and_a_new_owner_reads_the_store(
    tmp_path: Path,
) -> None:
    state = _state(tmp_path)
    _commit(state, Put("t", b"a", {"n": 1}))
    cache = state.cache
    assert cache is not None and len(cache) == 1
    state.close()  # what the host does with a revoked or lost partition's state
    assert len(cache) == 0
    # Taken back later: the same store, a cold cache, the committed value.
    again = _state(tmp_path)
    assert again.get("t", b"a") == {"n": 1}
    assert again.cache is not None and again.cache.hits == 0
    again.close()


def test_a_deleted_key_is_forgotten(tmp_path: Path) -> None:
    state = _state(tmp_path)
    _commit(state, Put("t", b"a", {"n": 1}))
    _commit(state, Delete("t", b"a"))
    assert state.cache is not None and len(state.cache) == 0
    assert state.get("t", b"a") is None
    state.close()


def test_the_oldest_values_leave_when_the_bound_is_reached(tmp_path: Path) -> None:
    entry = len(JsonCodec().encode({"n": 1})) * MEMORY_PER_ENCODED_BYTE
    state = _state(tmp_path, max_bytes=3 * entry)
    _commit(state, *(Put("t", k, {"n": 1}) for k in (b"a", b"b", b"c", b"d")))
    cache = state.cache
    assert cache is not None and len(cache) == 3 and cache.size == 3 * entry
    state.get("t", b"a")
    assert cache.misses == 1  # a left first
    state.get("t", b"b")
    assert cache.hits == 1
    state.close()


def test_a_cache_of_size_zero_keeps_nothing(tmp_path: Path) -> None:
    state = _state(tmp_path, max_bytes=0)
    _commit(state, Put("t", b"a", {"n": 1}))
    assert state.cache is not None and len(state.cache) == 0
    assert state.get("t", b"a") == {"n": 1}
    state.close()
