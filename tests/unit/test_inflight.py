"""The runner's bookkeeping: committable offsets, per-key order, global and tenant bounds."""

from __future__ import annotations

from agents.inflight import PartitionOffsets, Pending, WorkQueue


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


def _pending(key: str, tenant: str, offset: int, partition: int = 0) -> Pending[str]:
    return Pending(partition, offset, key.encode(), tenant, f"{key}@{offset}")


def test_one_step_per_key_in_arrival_order_and_others_run_meanwhile() -> None:
    queue: WorkQueue[str] = WorkQueue(max_in_flight=10, max_per_tenant=10)
    for i, key in enumerate(["a", "a", "b", "a", "c"]):
        queue.add(_pending(key, "acme", i))
    started = list(queue.ready())
    assert [p.item for p in started] == ["a@0", "b@2", "c@4"]
    assert (queue.in_flight, queue.buffered) == (3, 2)
    assert list(queue.ready()) == []  # a's next waits for a@0
    queue.done(started[0])
    assert [p.item for p in queue.ready()] == ["a@1"]


def test_the_global_and_tenant_bounds_hold_and_a_busy_tenant_does_not_block_others() -> None:
    queue: WorkQueue[str] = WorkQueue(max_in_flight=3, max_per_tenant=2)
    for i in range(4):
        queue.add(_pending(f"noisy-{i}", "noisy", i))
    queue.add(_pending("quiet-0", "quiet", 9))
    started = [p.item for p in queue.ready()]
    assert started == ["noisy-0@0", "noisy-1@1", "quiet-0@9"]  # noisy at its bound of 2
    assert queue.in_flight == 3
    assert list(queue.ready()) == []


def test_dropping_a_partition_forgets_its_waiting_commands_only() -> None:
    queue: WorkQueue[str] = WorkQueue(max_in_flight=1, max_per_tenant=1)
    queue.add(_pending("a", "t", 0, partition=0))
    queue.add(_pending("b", "t", 0, partition=1))
    queue.add(_pending("c", "t", 1, partition=1))
    [first] = queue.ready()
    assert queue.drop_partition(1) == 2
    assert queue.buffered == 0
    queue.done(first)
    assert list(queue.ready()) == []
