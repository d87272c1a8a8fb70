"""A host whose clients were replaced starts again once the broker answers, and gives up with
the start-up error past its patience; partitions lost and never given back call for new
clients."""

from __future__ import annotations

import pytest

from streams.errors import LostWatch, StartupError, start_again


def test_a_start_is_retried_while_the_broker_does_not_answer() -> None:
    tries: list[int] = []
    naps: list[float] = []

    def start() -> None:
        tries.append(1)
        if len(tries) < 3:
            raise StartupError("cannot reach Kafka at 127.0.0.1:9092")

    start_again(start, patience_s=60, sleep=naps.append)
    assert (len(tries), naps) == (3, [2.0, 2.0])


def test_past_its_patience_the_last_startup_error_stops_the_host() -> None:
    def start() -> None:
        raise StartupError("topic 'x' does not exist")

    with pytest.raises(StartupError, match="topic 'x' does not exist"):
        start_again(start, patience_s=0, sleep=lambda s: None)


def test_partitions_lost_and_never_given_back_are_overdue_after_the_patience() -> None:
    now = [100.0]
    watch = LostWatch(60.0, clock=lambda: now[0])
    assert not watch.overdue()  # never lost: a standby worker is left alone
    watch.lost()
    now[0] = 150.0
    watch.lost()  # lost again meanwhile: still counted from the first
    assert not watch.overdue()
    now[0] = 160.5
    assert watch.overdue()
    watch.assigned()
    assert not watch.overdue()
