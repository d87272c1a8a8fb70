"""The host's running figures as an observer: a one-line log summary and an optional JSON file
(``AGENTFLOW_STATS_FILE``) that tests, the bench and scripts read."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processors.contract import Record
from streams.observer import CommitReport, NullObserver
from streams.recovery import RestoreReport


@dataclass
class HostStats:
    """Counters and gauges of one host process."""

    started_at: float = field(default_factory=time.monotonic)
    records: int = 0
    batches: int = 0
    commits: int = 0
    aborts: int = 0
    commit_seconds_total: float = 0.0
    commit_seconds_max: float = 0.0
    poison_records: int = 0
    restored_records: int = 0
    restore_seconds: float = 0.0
    restores: list[dict[str, Any]] = field(default_factory=list)
    assigned_partitions: list[int] = field(default_factory=list)
    lag: dict[str, int] = field(default_factory=dict)
    #: The step runner's flow (``on_flow``); None for the stream host.
    steps: dict[str, int] | None = None
    _window_start: float = field(default_factory=time.monotonic)
    _window_records: int = 0
    _last_rate: float = 0.0

    def record_batch(self, size: int) -> None:
        self.batches += 1
        self.records += size
        self._window_records += size

    def record_commit(self, seconds: float) -> None:
        self.commits += 1
        self.commit_seconds_total += seconds
        self.commit_seconds_max = max(self.commit_seconds_max, seconds)

    def roll_window(self) -> float:
        """Records per second since the last call."""
        now = time.monotonic()
        elapsed = max(now - self._window_start, 1e-9)
        self._last_rate = self._window_records / elapsed
        self._window_start, self._window_records = now, 0
        return self._last_rate

    def as_dict(self) -> dict[str, Any]:
        return {
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "records": self.records,
            "records_per_s": round(self._last_rate, 1),
            "batches": self.batches,
            "avg_batch_size": round(self.records / self.batches, 1) if self.batches else 0,
            "commits": self.commits,
            "aborts": self.aborts,
            "commit_ms_avg": round(1000 * self.commit_seconds_total / self.commits, 2)
            if self.commits
            else 0,
            "commit_ms_max": round(1000 * self.commit_seconds_max, 2),
            "poison_records": self.poison_records,
            "restored_records": self.restored_records,
            "restore_seconds": round(self.restore_seconds, 3),
            "restores": self.restores,
            "assigned_partitions": sorted(self.assigned_partitions),
            "consumer_lag": self.lag,
            **({"steps": self.steps} if self.steps is not None else {}),
        }

    def summary_line(self) -> str:
        d = self.as_dict()
        lag = sum(self.lag.values())
        return (
            f"{d['records_per_s']:.0f} rec/s, {d['records']} records, lag {lag}, "
            f"batch {d['avg_batch_size']}, commit {d['commit_ms_avg']}ms avg, "
            f"{d['poison_records']} poison, {d['restored_records']} restored, "
            f"partitions {d['assigned_partitions']}"
        )

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.as_dict()))
        tmp.replace(path)


class StatsObserver(NullObserver):
    """Keeps :class:`HostStats` from the host's events; writes them to ``path`` (if set) when
    partitions move, at each lag reading (the stats interval) and on stop."""

    def __init__(self, path: Path | None = None, log: Any = None) -> None:
        self.stats = HostStats()
        self.path = path
        self._log = log

    def on_batch(self, records: int) -> None:
        self.stats.record_batch(records)

    def on_commit(self, report: CommitReport) -> None:
        self.stats.record_commit(report.seconds)

    def on_abort(self, reason: str) -> None:
        self.stats.aborts += 1

    def on_restore(self, report: RestoreReport) -> None:
        self.stats.restored_records += report.records
        self.stats.restore_seconds += report.seconds
        self.stats.restores.append(report.as_dict())

    def on_poison(self, record: Record, processor: str, error: Exception) -> None:
        self.stats.poison_records += 1

    def on_assign(self, partitions: Sequence[int]) -> None:
        self.stats.assigned_partitions = sorted(partitions)
        self.write()

    def on_flow(self, in_flight: int, waiting: int, paused: int) -> None:
        self.stats.steps = {"in_flight": in_flight, "waiting": waiting, "paused_partitions": paused}

    def on_lag(self, lag: Mapping[str, int]) -> None:
        self.stats.roll_window()
        self.stats.lag = dict(lag)
        if self._log is not None:
            self._log.info("%s", self.stats.summary_line())
        self.write()

    def on_stop(self) -> None:
        self.write()
        if self._log is not None:
            self._log.info("host stopped: %s", self.stats.summary_line())

    def write(self) -> None:
        if self.path is not None:
            self.stats.write(self.path)
