"""Prometheus metrics of a host: :class:`MetricsObserver` and the ``/metrics`` endpoint.

Every figure is a ``agentflow_*`` metric with a ``component`` label (``worker``, ``steps``),
so one dashboard shows the worker and the step runner side by side. Counts of records,
decisions and quarantines are taken at commit (:class:`~streams.observer.CommitReport`): a
batch that aborts and is processed again is counted once, and the counters equal what a
``read_committed`` consumer of the output topics sees.

Each process has its own :class:`~prometheus_client.CollectorRegistry` (never the library's
global one), passed to whatever exposes it: :func:`serve_metrics` for the worker and the
runner, ``agentflow serve``'s own ``/metrics`` route.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from processors.contract import Record
from processors.roles import AUDIT_ROLE, QUARANTINE_ROLE
from streams.observer import CommitReport, NullObserver
from streams.recovery import RestoreReport

#: Commit latency buckets, in seconds: a healthy commit takes 5-50 ms.
COMMIT_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
#: Records per committed checkpoint.
BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)


class HostMetrics:
    """The host's metrics in ``registry``, labelled with ``component``."""

    def __init__(self, registry: CollectorRegistry, component: str) -> None:
        self.component = component
        c = ("component",)
        self.records_in = Counter(
            "agentflow_records_in", "Input records committed", c, registry=registry
        ).labels(component)
        self.records_out = Counter(
            "agentflow_records_out", "Records produced and committed, by role", (*c, "role"),
            registry=registry,
        )  # fmt: skip
        self.decisions = Counter(
            "agentflow_decisions", "Engine decisions committed, by kind", (*c, "decision"),
            registry=registry,
        )  # fmt: skip
        self.quarantined = Counter(
            "agentflow_quarantined", "Records quarantined, by reason code", (*c, "reason"),
            registry=registry,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "agentflow_commit_seconds", "Checkpoint commit latency", c, buckets=COMMIT_BUCKETS,
            registry=registry,
        ).labels(component)  # fmt: skip
        self.batch_records = Histogram(
            "agentflow_checkpoint_records", "Input records per committed checkpoint", c,
            buckets=BATCH_BUCKETS, registry=registry,
        ).labels(component)  # fmt: skip
        self.aborts = Counter(
            "agentflow_aborts", "Checkpoints aborted and rewound", c, registry=registry
        ).labels(component)
        self.poison = Counter(
            "agentflow_poison_records", "Records a processor raised on (quarantined)",
            (*c, "processor"), registry=registry,
        )  # fmt: skip
        self.restored = Counter(
            "agentflow_restored_records", "Changelog records replayed into stores", (*c, "table"),
            registry=registry,
        )  # fmt: skip
        self.restores = Counter(
            "agentflow_restores", "Table partitions restored", (*c, "table"), registry=registry
        )
        self.assigned = Gauge(
            "agentflow_assigned_partitions", "Input partitions assigned", c, registry=registry
        ).labels(component)
        self.lag = Gauge(
            "agentflow_consumer_lag", "Records behind the end of each input partition",
            (*c, "topic", "partition"), registry=registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "agentflow_steps_in_flight", "Steps running", c, registry=registry
        ).labels(component)
        self.waiting = Gauge(
            "agentflow_steps_waiting", "Step commands received, waiting for a slot (queue depth)",
            c, registry=registry,
        ).labels(component)  # fmt: skip
        self.paused = Gauge(
            "agentflow_paused_partitions", "Input partitions paused by flow control", c,
            registry=registry,
        ).labels(component)  # fmt: skip
        self._lag_labels: set[tuple[str, str]] = set()

    def set_lag(self, lag: Mapping[str, int]) -> None:
        """Lag readings keyed ``topic[partition]``; partitions no longer read are removed."""
        seen: set[tuple[str, str]] = set()
        for name, value in lag.items():
            topic, _, rest = name.rpartition("[")
            labels = (topic, rest.rstrip("]"))
            self.lag.labels(self.component, *labels).set(value)
            seen.add(labels)
        for gone in self._lag_labels - seen:
            self.lag.remove(self.component, *gone)
        self._lag_labels = seen


class MetricsObserver(NullObserver):
    """A :class:`~streams.observer.HostObserver` that keeps :class:`HostMetrics`."""

    def __init__(self, registry: CollectorRegistry, component: str = "worker") -> None:
        self.metrics = HostMetrics(registry, component)

    def on_commit(self, report: CommitReport) -> None:
        m, component = self.metrics, self.metrics.component
        m.commit_seconds.observe(report.seconds)
        if report.records:
            m.records_in.inc(report.records)
            m.batch_records.observe(report.records)
        for (role, tag), count in report.emitted.items():
            m.records_out.labels(component, role).inc(count)
            if role == AUDIT_ROLE and tag:
                m.decisions.labels(component, tag).inc(count)
            elif role == QUARANTINE_ROLE and tag:
                m.quarantined.labels(component, tag).inc(count)

    def on_abort(self, reason: str) -> None:
        self.metrics.aborts.inc()

    def on_restore(self, report: RestoreReport) -> None:
        m = self.metrics
        m.restored.labels(m.component, report.table).inc(report.records)
        m.restores.labels(m.component, report.table).inc()

    def on_poison(self, record: Record, processor: str, error: Exception) -> None:
        self.metrics.poison.labels(self.metrics.component, processor).inc()

    def on_assign(self, partitions: Sequence[int]) -> None:
        self.metrics.assigned.set(len(partitions))

    def on_lag(self, lag: Mapping[str, int]) -> None:
        self.metrics.set_lag(lag)

    def on_flow(self, in_flight: int, waiting: int, paused: int) -> None:
        m = self.metrics
        m.in_flight.set(in_flight)
        m.waiting.set(waiting)
        m.paused.set(paused)


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Any:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread; the server."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
