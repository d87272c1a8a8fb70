"""The runner's bookkeeping of offsets: the committable one, and what finished past it."""

from __future__ import annotations

from agents.inflight import PartitionOffsets


def test_the_committable_offset_is_the_lowest_unfinished_one() -> None:
    offsets = PartitionOffsets()
    assert offsets.committable() is None
    for o in (10, 11, 12, 13):
        offsets.received(o)
    assert offsets.committable() == 10
    offsets.finished(12, "c12")
    offsets.finished(11, "c11")
    assert offsets.committable() == 10  # 11 and 12 are done, 10 is not
    offsets.finished(10, "c10")
    assert offsets.committable() == 13
    offsets.finished(13, "c13")
    assert offsets.committable() == 14  # all done: one past the highest received
    assert offsets.finished_ahead == {10: "c10", 11: "c11", 12: "c12", 13: "c13"}
    offsets.settle(13)
    assert offsets.finished_ahead == {13: "c13"}
