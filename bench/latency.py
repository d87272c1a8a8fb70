"""Latency of the ``agentflow worker`` at a paced offered load: each event from its produce()
call until its audit record is visible to a read_committed consumer."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.agentflow_worker import audit_datum
from bench.kafka import ingress_producer, partition_ends
from bench.procs import Progress
from bench.workload import Event

# Latency run: workflow w's event j goes out at slot w + j * LATENCY_STAGGER, so the offered
# stream mixes every lifecycle stage at all times (round by round, the costlier rounds, e.g.
# the approval's, would briefly exceed the worker's capacity at a rate that is half its
# average maximum).
LATENCY_STAGGER = 100


@dataclass
class LatencyResult:
    offered_rate: float
    achieved_rate: float
    seconds: float
    events: int
    received: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    #: Of each latency, the part after the worker's audit record was appended to the log
    #: (LogAppendTime), until a read_committed consumer saw it: the transaction's commit.
    committing_ms: list[float] = field(default_factory=list, repr=False)
    producer_linger_ms: int = 5
    # CPU seconds the worker used per second while the events were offered (1.0 = one core).
    worker_cpu_utilisation: float | None = None
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute, before and after

    def percentile(self, q: float, of: list[float] | None = None) -> float | None:
        values = self.latencies_ms if of is None else of
        if not values:
            return None
        ordered = sorted(values)
        i = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return round(ordered[i], 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "offered_events_per_s": round(self.offered_rate, 1),
            "achieved_events_per_s": round(self.achieved_rate, 1),
            "seconds": round(self.seconds, 2),
            "events": self.events,
            "received": self.received,
            "p50_ms": self.percentile(0.50),
            "p90_ms": self.percentile(0.90),
            "p99_ms": self.percentile(0.99),
            "max_ms": round(max(self.latencies_ms), 2) if self.latencies_ms else None,
            "mean_ms": round(sum(self.latencies_ms) / len(self.latencies_ms), 2)
            if self.latencies_ms
            else None,
            "committing_p50_ms": self.percentile(0.50, self.committing_ms),
            "committing_p99_ms": self.percentile(0.99, self.committing_ms),
            "producer_linger_ms": self.producer_linger_ms,
            "worker_cpu_utilisation": round(self.worker_cpu_utilisation, 2)
            if self.worker_cpu_utilisation is not None
            else None,
            "load_average_before_after": [round(x, 2) for x in self.load_average],
        }


def _watch_audit(
    bootstrap: str, topic: str, start: dict[int, int], stop: Any, ready: Any, out: Any
) -> None:
    """Child process: read audit records (read_committed) from ``start``; send back when each
    event id was first seen (``time.monotonic()``, one clock for every process on Linux) and
    the wall-clock lag from its audit record's append (LogAppendTime) to that moment."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-latency-{time.time_ns()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
            "log_level": 3,
        }
    )
    consumer.assign([TopicPartition(topic, p, o) for p, o in start.items()])
    seen: dict[str, tuple[float, float]] = {}
    ready.set()
    try:
        while not stop.is_set():
            # What is queued now; else wait for one record (consume(n, timeout) would wait out
            # its timeout for a full batch, adding to every latency it measures).
            msgs = consumer.consume(1000, timeout=0) or [
                m for m in [consumer.poll(0.05)] if m is not None
            ]
            now, wall_ms = time.monotonic(), time.time() * 1000
            for msg in msgs:
                if msg.error() is None:
                    appended_ago_ms = wall_ms - msg.timestamp()[1]
                    seen.setdefault(audit_datum(msg.value())["event_id"], (now, appended_ago_ms))
    finally:
        consumer.close()
        out.put(seen)


class AuditWatcher:
    """Watches the audit topic from a child process, so the paced producer in this one does
    not share a GIL with it."""

    def __init__(self, bootstrap: str, topic: str, start: dict[int, int]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop, self._ready, self._out = ctx.Event(), ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(
            target=_watch_audit,
            args=(bootstrap, topic, start, self._stop, self._ready, self._out),
            daemon=True,
        )
        self.seen: dict[str, tuple[float, float]] = {}

    def start(self) -> None:
        self._proc.start()
        self._ready.wait(30)

    def finish(self) -> dict[str, tuple[float, float]]:
        self._stop.set()
        self.seen = self._out.get(timeout=60)
        self._proc.join(10)
        return self.seen


def _seen_split(seen: tuple[float, float], sent_at: float) -> tuple[float, float]:
    return seen[0] - sent_at, seen[1]


def paced_latency(
    bootstrap: str,
    ingress: str,
    audit: str,
    partitions: int,
    events: list[Event],
    rate: float,
    progress: Progress,
    cpu_seconds: Callable[[], float | None] = lambda: None,
) -> LatencyResult:
    """Produce ``events`` at ``rate`` per second; latency from each produce() call until its
    audit record is visible to a read_committed consumer."""
    watcher = AuditWatcher(bootstrap, audit, partition_ends(bootstrap, audit, partitions))
    watcher.start()
    linger = 5  # the SDK's EventProducer default
    producer = ingress_producer(bootstrap, linger_ms=linger)
    producer.list_topics(ingress, timeout=10)  # metadata and connections before the clock runs
    time.sleep(1.0)  # the watcher's assignment, the idempotent producer's id
    sent: dict[str, float] = {}
    load0 = os.getloadavg()[0]
    cpu0 = cpu_seconds()
    started = time.monotonic()
    for i, event in enumerate(events):
        due = started + i / rate
        while True:
            now = time.monotonic()
            if now >= due:
                break
            producer.poll(0)
            time.sleep(min(due - now, 0.002))
        sent[event.event_id] = time.monotonic()
        producer.produce(ingress, event.value, event.key, headers=event.headers)
    producer.flush(30)
    produced_s = time.monotonic() - started
    cpu1 = cpu_seconds()
    time.sleep(min(30.0, 3.0 + len(events) / rate / 2))  # the tail
    watcher.finish()
    seen = watcher.seen
    latencies = [1000 * (seen[e][0] - t) for e, t in sent.items() if e in seen]
    # The part from the audit record's append (in the open transaction) to its visibility.
    committing = [seen[e][1] for e in sent if e in seen]
    if os.environ.get("BENCH_LATENCY_DUMP"):
        Path(os.environ["BENCH_LATENCY_DUMP"]).write_text(
            json.dumps(
                [
                    # (sent at, seconds to visible, ms from append to visible); -1: unseen
                    (round(t - started, 4), *(_seen_split(seen[e], t) if e in seen else (-1, -1)))
                    for e, t in sent.items()
                ]
            )
        )
    result = LatencyResult(
        offered_rate=rate,
        achieved_rate=len(events) / produced_s,
        seconds=produced_s,
        events=len(events),
        received=len(latencies),
        latencies_ms=latencies,
        committing_ms=committing,
        producer_linger_ms=linger,
        worker_cpu_utilisation=(cpu1 - cpu0) / produced_s
        if cpu0 is not None and cpu1 is not None
        else None,
        load_average=(load0, os.getloadavg()[0]),
    )
    progress(
        f"latency at {rate:,.0f} events/s: p50 {result.percentile(0.5)} ms, p99 "
        f"{result.percentile(0.99)} ms, max {result.as_dict()['max_ms']} ms "
        f"({result.received:,}/{result.events:,} seen; worker CPU "
        f"{result.as_dict()['worker_cpu_utilisation']})"
    )
    return result
