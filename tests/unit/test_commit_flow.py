"""When the host starts a checkpoint (:meth:`CommitFlow.due`) and how long it may wait for a
record (:meth:`CommitFlow.idle_wait_s`), on a clock the test moves by hand.

The policy (streams/commit_flow.py): caught up, commit once ``commit_min_gap_ms`` has passed
since the last commit started; below full load, once the oldest uncommitted record has waited
``commit_latency_ms``; under full load, once it has waited ``commit_interval_ms``; never while
a commit is in flight or when nothing is open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from streams.checkpoint import CommitResult
from streams.commit_flow import CommitFlow
from streams.settings import HostSettings

MIN_GAP_S, LATENCY_S, INTERVAL_S = 0.010, 0.020, 0.100


class _Clock:
    def __init__(self) -> None:
        # Steps cross each threshold by a millisecond either way: float sums are not exact.
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _Committer:
    producer: Any = None

    def __init__(self) -> None:
        self.begun = 0

    def begin(self) -> None:
        self.begun += 1


class _Checkpoint:
    """A checkpoint whose commit returns only when the test releases it."""

    call_timeout_s = 30.0

    def __init__(self) -> None:
        self.committer = _Committer()
        self.release = threading.Event()

    def start(self, states: object, offsets: object) -> object:
        return object()

    def make_durable(self, checkpoint: object) -> None:
        assert self.release.wait(10), "the test never released the commit"

    def finish(self, checkpoint: object) -> CommitResult:
        return CommitResult(seconds=0.001, changelog_records=0, offsets=1)


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def checkpoint() -> _Checkpoint:
    return _Checkpoint()


@pytest.fixture
def flow(clock: _Clock, checkpoint: _Checkpoint) -> Iterator[CommitFlow]:
    settings = HostSettings(
        commit_min_gap_ms=int(MIN_GAP_S * 1000),
        commit_latency_ms=int(LATENCY_S * 1000),
        commit_interval_ms=int(INTERVAL_S * 1000),
    )
    made = CommitFlow(checkpoint, settings, clock=clock)  # type: ignore[arg-type]
    yield made
    checkpoint.release.set()
    made.close()


def _commit(flow: CommitFlow, checkpoint: _Checkpoint) -> None:
    """Start a commit and let it land."""
    flow.start({})
    checkpoint.release.set()
    assert flow.settle(wait=True) is not None
    checkpoint.release.clear()


def test_nothing_open_is_never_due_and_waits_the_longest(flow: CommitFlow, clock: _Clock) -> None:
    clock.advance(10)
    assert not flow.due(caught_up=True, full=False)
    assert not flow.due(caught_up=False, full=True)
    assert flow.idle_wait_s() == 0.05


def test_caught_up_commits_at_once_when_no_commit_started_recently(
    flow: CommitFlow, checkpoint: _Checkpoint, clock: _Clock
) -> None:
    flow.begin()
    assert checkpoint.committer.begun == 1  # the open layer's transaction began
    assert flow.due(caught_up=True, full=False)


def test_caught_up_waits_out_the_minimum_gap_after_the_last_commit(
    flow: CommitFlow, checkpoint: _Checkpoint, clock: _Clock
) -> None:
    flow.begin()
    _commit(flow, checkpoint)
    clock.advance(0.004)
    flow.begin()
    assert not flow.due(caught_up=True, full=False)
    assert flow.idle_wait_s() == pytest.approx(MIN_GAP_S - 0.004)
    clock.advance(0.007)
    assert flow.due(caught_up=True, full=False)
    assert flow.idle_wait_s() == 0.0


def test_below_full_load_the_oldest_record_waits_the_commit_latency(
    flow: CommitFlow, clock: _Clock
) -> None:
    flow.begin()
    clock.advance(0.015)
    flow.begin()  # a later record does not move the oldest one's clock
    assert not flow.due(caught_up=False, full=False)
    clock.advance(0.006)
    assert flow.due(caught_up=False, full=False)


def test_under_full_load_the_oldest_record_waits_the_commit_interval(
    flow: CommitFlow, clock: _Clock
) -> None:
    flow.begin()
    clock.advance(LATENCY_S)
    assert not flow.due(caught_up=False, full=True)
    clock.advance(INTERVAL_S - LATENCY_S - 0.001)
    assert not flow.due(caught_up=False, full=True)
    clock.advance(0.002)
    assert flow.due(caught_up=False, full=True)


def test_nothing_is_due_while_a_commit_is_in_flight(
    flow: CommitFlow, checkpoint: _Checkpoint, clock: _Clock
) -> None:
    flow.begin()
    flow.start({})
    flow.begin()  # the next layer opens while the first commits
    assert checkpoint.committer.begun == 1  # its transaction waits for the flight to land
    clock.advance(10)
    assert flow.in_flight
    assert not flow.due(caught_up=True, full=False)
    assert not flow.due(caught_up=False, full=True)
    assert flow.idle_wait_s() == 0.0  # the host waits for the flight instead
    checkpoint.release.set()
    assert flow.settle(wait=True) is not None
    assert checkpoint.committer.begun == 2
    assert flow.due(caught_up=True, full=False)


def test_a_commit_latency_above_the_interval_is_held_to_the_interval(
    clock: _Clock, checkpoint: _Checkpoint
) -> None:
    settings = HostSettings(commit_latency_ms=500, commit_interval_ms=100)
    flow = CommitFlow(checkpoint, settings, clock=clock)  # type: ignore[arg-type]
    try:
        flow.begin()
        clock.advance(0.099)
        assert not flow.due(caught_up=False, full=False)
        clock.advance(0.002)
        assert flow.due(caught_up=False, full=False)
    finally:
        flow.close()
