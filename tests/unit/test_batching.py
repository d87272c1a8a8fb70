"""The host's batch size: capped by count, and by processing time at the measured rate."""

from __future__ import annotations

from streams.batching import MIN_BATCH, BatchSizer


def test_the_first_batch_takes_the_full_count() -> None:
    assert BatchSizer(2000, 0.1).size == 2000


def test_a_batch_is_sized_to_the_time_budget_at_the_measured_time_per_record() -> None:
    sizer = BatchSizer(2000, 0.1)
    sizer.observe(2000, 0.4)  # 200 µs per record: 100 ms holds 500
    assert sizer.size == 500


def test_the_average_moves_a_fifth_of_the_way_to_each_new_batch() -> None:
    sizer = BatchSizer(2000, 0.1)
    sizer.observe(500, 0.1)  # 200 µs
    sizer.observe(500, 0.2)  # 400 µs: the average becomes 240 µs
    assert sizer.size == int(0.1 / 240e-6) == 416


def test_cheap_records_never_raise_the_size_above_the_count() -> None:
    sizer = BatchSizer(2000, 0.1)
    sizer.observe(2000, 0.002)  # 1 µs per record would fit 100,000
    assert sizer.size == 2000


def test_slow_records_never_shrink_a_batch_below_the_floor() -> None:
    sizer = BatchSizer(2000, 0.1)
    sizer.observe(10, 5.0)  # 0.5 s per record
    assert sizer.size == MIN_BATCH


def test_the_floor_never_exceeds_the_count() -> None:
    sizer = BatchSizer(4, 0.1)
    sizer.observe(4, 4.0)
    assert sizer.size == 4


def test_zero_seconds_sizes_by_count_alone_and_empty_batches_teach_nothing() -> None:
    by_count = BatchSizer(2000, 0)
    by_count.observe(2000, 10.0)
    assert by_count.size == 2000
    sizer = BatchSizer(2000, 0.1)
    sizer.observe(0, 0.05)
    assert sizer.size == 2000
