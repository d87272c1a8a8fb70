"""The host's garbage-collector policy (streams.collector) and the untracked state types."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import msgspec
import pytest

from processors.engine import WorkflowStateCodec
from processors.engine import state as state_types
from streams.collector import FULL_PER_MIDDLE, MIDDLE_PER_YOUNG, tune_collector
from tests.unit.test_state_codec import full_state


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_tuning_freezes_the_start_up_heap_and_raises_the_thresholds() -> None:
    gc.unfreeze()
    tune_collector(12_345)
    assert gc.get_threshold() == (12_345, MIDDLE_PER_YOUNG, FULL_PER_MIDDLE)
    assert gc.get_freeze_count() > 1000  # at least this test run's modules and classes


@pytest.mark.usefixtures("restored_collector")
def test_threshold_zero_leaves_the_collector_alone() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    tune_collector(0)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_no_state_type_is_tracked_by_the_cycle_collector() -> None:
    codec = WorkflowStateCodec()
    decoded = codec.decode(codec.encode(full_state()))
    parts = [decoded, decoded.usage, *decoded.step_calls, *decoded.pending_approvals,
             *decoded.timers, *decoded.held, *decoded.errors, *decoded.history]  # fmt: skip
    assert len(parts) == 8 and not any(gc.is_tracked(p) for p in parts)
    assert not gc.is_tracked(decoded.clone())
    struct_types = [
        t
        for t in vars(state_types).values()
        if isinstance(t, type)
        and issubclass(t, msgspec.Struct)
        and t.__module__ == state_types.__name__
    ]
    assert len(struct_types) >= 11
    assert all(t.__struct_config__.gc is False for t in struct_types)
