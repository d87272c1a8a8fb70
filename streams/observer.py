"""What a host reports while it runs: the :class:`HostObserver` protocol.

The host calls its observer on each batch, commit, abort, restore, poison record, assignment,
lag reading and stop; the step runner also reports its flow (steps in flight, waiting,
paused). The stats file is one observer (:class:`~streams.stats.StatsObserver`); metrics and
traces are others. Observers are called on the host's thread, in the hot loop for ``on_batch``
and ``on_commit``: they must be cheap and must not raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from processors.contract import Record
from streams.recovery import RestoreReport


@dataclass(frozen=True)
class CommitReport:
    """What one checkpoint made durable. Counted at commit, so an aborted and re-processed
    batch is counted once: the figures match what ``read_committed`` consumers see."""

    seconds: float
    changelog_records: int
    #: Input partitions whose offsets advanced.
    offsets: int
    #: Input records the checkpoint covers.
    records: int = 0
    #: Records produced, by ``(role, tag)``; the tag is the emit's (a decision kind, a
    #: reason code) or "" (see :class:`~processors.contract.Emit`).
    emitted: Mapping[tuple[str, str], int] = field(default_factory=dict)


class CommitTally:
    """What the open transaction holds, for the :class:`CommitReport` of its commit."""

    __slots__ = ("emitted", "records")

    def __init__(self) -> None:
        self.records = 0
        self.emitted: dict[tuple[str, str], int] = {}

    def emit(self, role: str, tag: str | None) -> None:
        """A record produced to ``role`` (tagged ``tag``)."""
        key = (role, tag or "")
        self.emitted[key] = self.emitted.get(key, 0) + 1

    def report(self, seconds: float, changelog_records: int, offsets: int) -> CommitReport:
        """The report of the commit that just succeeded; the tally starts again."""
        report = CommitReport(seconds, changelog_records, offsets, self.records, self.emitted)
        self.reset()
        return report

    def reset(self) -> None:
        """Forget everything (the transaction aborted)."""
        self.records, self.emitted = 0, {}


class HostObserver(Protocol):
    """Receives the host's events. Subclass :class:`NullObserver` to implement a few."""

    def on_batch(self, records: int) -> None:
        """``records`` records were processed by one cycle of the loop."""

    def on_commit(self, report: CommitReport) -> None:
        """A checkpoint committed."""

    def on_abort(self, reason: str) -> None:
        """A checkpoint failed and was aborted; the host rewinds to the committed offsets."""

    def on_restore(self, report: RestoreReport) -> None:
        """A table partition was restored from its changelog."""

    def on_poison(self, record: Record, processor: str, error: Exception) -> None:
        """``processor`` raised on ``record``, which went to quarantine (``processor_error``)."""

    def on_assign(self, partitions: Sequence[int]) -> None:
        """The input partitions assigned to this host changed; ``partitions`` is the new set."""

    def on_lag(self, lag: Mapping[str, int]) -> None:
        """Consumer lag per ``topic[partition]``, read every stats interval."""

    def on_flow(self, in_flight: int, waiting: int, paused: int) -> None:
        """The step runner's flow, every stats interval: steps running, commands waiting for
        a slot, and input partitions paused because too many wait."""

    def on_stop(self) -> None:
        """The host stopped (stores closed, group left)."""


class NullObserver:
    """An observer that ignores everything; override the methods you need."""

    def on_batch(self, records: int) -> None:
        return None

    def on_commit(self, report: CommitReport) -> None:
        return None

    def on_abort(self, reason: str) -> None:
        return None

    def on_restore(self, report: RestoreReport) -> None:
        return None

    def on_poison(self, record: Record, processor: str, error: Exception) -> None:
        return None

    def on_assign(self, partitions: Sequence[int]) -> None:
        return None

    def on_lag(self, lag: Mapping[str, int]) -> None:
        return None

    def on_flow(self, in_flight: int, waiting: int, paused: int) -> None:
        return None

    def on_stop(self) -> None:
        return None


class Observers(NullObserver):
    """Several observers as one, called in order."""

    def __init__(self, observers: Sequence[HostObserver]) -> None:
        self.observers = tuple(observers)

    def on_batch(self, records: int) -> None:
        for o in self.observers:
            o.on_batch(records)

    def on_commit(self, report: CommitReport) -> None:
        for o in self.observers:
            o.on_commit(report)

    def on_abort(self, reason: str) -> None:
        for o in self.observers:
            o.on_abort(reason)

    def on_restore(self, report: RestoreReport) -> None:
        for o in self.observers:
            o.on_restore(report)

    def on_poison(self, record: Record, processor: str, error: Exception) -> None:
        for o in self.observers:
            o.on_poison(record, processor, error)

    def on_assign(self, partitions: Sequence[int]) -> None:
        for o in self.observers:
            o.on_assign(partitions)

    def on_lag(self, lag: Mapping[str, int]) -> None:
        for o in self.observers:
            o.on_lag(lag)

    def on_flow(self, in_flight: int, waiting: int, paused: int) -> None:
        for o in self.observers:
            o.on_flow(in_flight, waiting, paused)

    def on_stop(self) -> None:
        for o in self.observers:
            o.on_stop()
