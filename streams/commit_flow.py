"""When and how the host's checkpoints commit: pipelined, on a committer thread.

A checkpoint's slow part is waiting for the broker: ``send_offsets_to_transaction`` and
``commit_transaction`` (tens of milliseconds, with six topics in a transaction). They release
the GIL, so :class:`CommitFlow` runs them on a committer thread while the host goes on
processing records into a second pending layer (see :class:`~streams.tables.PartitionState`).
One transactional producer has one transaction at a time, so what those records emit is held
in memory until the commit in flight is done; then the next transaction begins and the held
records are produced into it. At most one commit is in flight.

When a checkpoint starts (:meth:`CommitFlow.due`): once the consumer has caught up, but not
within ``commit_min_gap_ms`` of the previous one; below full load, once the oldest record not
yet committed has waited ``commit_latency_ms``; under full load (full batches), once it has
waited ``commit_interval_ms``, so that a busy worker spreads a commit's cost over more records.

If a commit fails, the host aborts: both layers are dropped, the held records with them, and
the consumer goes back to the committed offsets. If a commit's calls do not return at all
(:mod:`streams.commit_thread`), :class:`~streams.commit_thread.CommitWedged` is raised, the
flight and both layers are forgotten, and the host starts its Kafka clients again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from streams.checkpoint import Checkpoint, CommitResult, OpenCheckpoint
from streams.commit_thread import CommitThread, CommitWedged, wedge_deadline_s
from streams.observer import CommitReport, CommitTally
from streams.produce import produce
from streams.settings import HostSettings
from streams.tables import PartitionState

_SWITCH_INTERVAL_S = 0.001
_Held = tuple[str, bytes | None, bytes | None, dict[str, Any]]


class CommitFlow:
    """The open layer of work, the checkpoint in flight, and when the next one starts."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        settings: HostSettings,
        wedged_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``wedged_s``: when a checkpoint in flight counts as wedged (default: from the
        checkpoint's call timeout, see :func:`~streams.commit_thread.wedge_deadline_s`).
        ``clock`` is a monotonic clock in seconds (a test passes its own)."""
        self.checkpoint = checkpoint
        self._clock = clock
        self._settings = settings
        self._min_gap_s = settings.commit_min_gap_ms / 1000
        self._interval_s = settings.commit_interval_ms / 1000
        self._latency_s = min(settings.commit_latency_ms / 1000, self._interval_s)
        #: Next offset per (topic, partition) processed into the open layer.
        self.offsets: dict[tuple[str, int], int] = {}
        #: What the open layer holds, for the observer's exactly-once counts.
        self.tally = CommitTally()
        self._open = False  # the open layer holds work
        self._oldest = 0.0  # when its first record was processed
        self._in_txn = False  # a Kafka transaction is begun for the open layer
        self._held: list[_Held] = []
        self._last_start = 0.0
        self._thread = CommitThread(
            "agentflow-commit",
            wedged_s if wedged_s is not None else wedge_deadline_s(checkpoint.call_timeout_s),
        )
        self._flight: tuple[Future[None], OpenCheckpoint, CommitTally] | None = None
        # The committer thread needs the GIL back each time the client returns to Python,
        # and the processing thread keeps it for CPython's switch interval (5 ms) at a time:
        # a commit took 250 ms (median) instead of 25 ms. 1 ms costs nothing while no other
        # thread waits for the GIL.
        if sys.getswitchinterval() > _SWITCH_INTERVAL_S:
            sys.setswitchinterval(_SWITCH_INTERVAL_S)

    @property
    def open(self) -> bool:
        """True if work was processed that no checkpoint has taken yet."""
        return self._open

    @property
    def in_flight(self) -> bool:
        return self._flight is not None

    def begin(self) -> None:
        """Work is about to join the open layer: begin its transaction if none is in flight."""
        if not self._open:
            self._open = True
            self._oldest = self._clock()
        if not self._in_txn and self._flight is None:
            self.checkpoint.committer.begin()
            self._in_txn = True

    def send(
        self, topic: str, value: bytes | None, key: bytes | None, kwargs: dict[str, Any]
    ) -> None:
        """Produce into the open layer's transaction, or hold the record until it begins."""
        if self._in_txn:
            produce(self.checkpoint.committer.producer, topic, value, key, **kwargs)
        else:
            self._held.append((topic, value, key, kwargs))

    def due(self, caught_up: bool, full: bool) -> bool:
        """True if the open layer should start committing now (see the module's text)."""
        if not self._open or self._flight is not None:
            return False
        now = self._clock()
        if caught_up:
            return now - self._last_start >= self._min_gap_s
        return now - self._oldest >= (self._interval_s if full else self._latency_s)

    def idle_wait_s(self) -> float:
        """How long the host may wait for a record when it has caught up: 50 ms, or less if
        the open layer's commit falls due sooner, or none while a commit is in flight (the
        host waits for that instead)."""
        if self._flight is not None:
            return 0.0
        if not self._open:
            return 0.05
        return min(0.05, max(0.0, self._last_start + self._min_gap_s - self._clock()))

    def start(self, states: Mapping[int, PartitionState]) -> None:
        """Freeze the open layer and commit it on the committer thread."""
        assert self._flight is None and self._in_txn
        checkpoint = self.checkpoint.start(states, self.offsets)
        tally, self.tally = self.tally, CommitTally()
        self.offsets = {}
        self._open = self._in_txn = False
        self._last_start = self._clock()
        future = self._thread.submit(self.checkpoint.make_durable, checkpoint)
        self._flight = (future, checkpoint, tally)

    def settle(self, wait: bool) -> CommitReport | None:
        """Finish the commit in flight if it is done (or, with ``wait``, once it is): flush
        its stores, then begin the open layer's transaction and produce what it held.

        Returns the commit's report, or None if none finished. Raises the commit's
        ``KafkaException`` if it failed: the caller aborts (:meth:`aborted`)."""
        if self._flight is None:
            return None
        future, checkpoint, tally = self._flight
        if not wait and not future.done():
            self._guard(self._thread.check, future)
            return None
        self._guard(self._thread.wait, future)  # raises what the commit raised
        self._flight = None
        result: CommitResult = self.checkpoint.finish(checkpoint)
        report = tally.report(result.seconds, result.changelog_records, result.offsets)
        if self._open:
            self.checkpoint.committer.begin()
            self._in_txn = True
            held, self._held = self._held, []
            producer = self.checkpoint.committer.producer
            for topic, value, key, kwargs in held:
                produce(producer, topic, value, key, **kwargs)
        return report

    def commit_now(self, states: Mapping[int, PartitionState]) -> list[CommitReport]:
        """Everything processed so far, committed before returning (a revoke, a stop)."""
        reports = [r for r in (self.settle(wait=True),) if r is not None]
        if self._open:
            self.start(states)
            report = self.settle(wait=True)
            assert report is not None
            reports.append(report)
        return reports

    def abandon(self) -> CommitReport | None:
        """The Kafka clients are being replaced (a restart): wait out a commit in flight
        (flushing its stores if it succeeded) and forget the rest. The open transaction is left
        to the new producer, whose ``init_transactions`` under the same id aborts it."""
        report = self._land_flight()[0]
        self._forget()
        return report

    def _land_flight(self) -> tuple[CommitReport | None, bool]:
        """Wait for the commit in flight: (its report if it succeeded, True if it failed)."""
        if self._flight is None:
            return None, False
        future, checkpoint, tally = self._flight
        try:
            self._guard(self._thread.wait, future)
        except KafkaException:
            self._flight = None
            return None, True
        self._flight = None
        result = self.checkpoint.finish(checkpoint)
        return tally.report(result.seconds, result.changelog_records, result.offsets), False

    def _guard(self, wait: Callable[[Future[None]], object], future: Future[None]) -> None:
        """``wait(future)``; if the commit is wedged, forget it and both layers first: the
        clients are replaced, and what was not committed is redone after the rewind."""
        try:
            wait(future)
        except CommitWedged:
            self._flight = None
            self._forget()
            raise

    def _forget(self) -> None:
        self._open = self._in_txn = False
        self._held.clear()
        self.offsets = {}
        self.tally.reset()

    def aborted(self, error: KafkaError) -> CommitReport | None:
        """A commit or a produce failed: abort what is not committed and forget both layers'
        bookkeeping (the caller discards the states and rewinds).

        A commit still in flight is waited for first. If it succeeded after all, its stores
        are flushed (the rewind starts after it) and its report is returned."""
        report, failed = self._land_flight()
        if failed or self._in_txn:
            self.checkpoint.committer.abort(error)
        self._forget()
        return report

    def close(self) -> None:
        self._thread.close()
