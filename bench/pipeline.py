"""The whole-pipeline bench: ``agentflow worker`` against a passthrough limit, Quix and faust
peers on the same signed events; its latency at half load; its cost as live workflows grow;
and how fast a cold worker recovers.

See ``bench/README.md`` for the method; :mod:`bench.workload` for the events and
:mod:`bench.preload` for how live workflows are pre-loaded.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from fastavro import schemaless_reader

from bench.apps import AppEnv, read_info
from bench.kafka import (
    OUTPUT_TOPIC_CONFIG,
    OutputSummary,
    create_topics,
    delete_topics_containing,
    ingress_producer,
    partition_ends,
    peak_rss_mb,
    process_cpu_seconds,
    produce_records,
    wait_for_outputs,
)
from bench.preload import LiveStates
from bench.runner import (
    WORKER_CMD,
    ContenderResult,
    _tail,
    host_environ,
    start_process,
    stop_process,
)
from bench.workload import Event, Workload, mean_sizes, worker_environ
from processors.engine.records import AUDIT_RECORD
from processors.events import default_registry
from topics import catalog
from topics.admin import ensure_topics

PIPELINE_CONTENDERS = ("limit", "quix", "faust", "agentflow")
# Latency run: workflow w's event j goes out at slot w + j * LATENCY_STAGGER, so the offered
# stream mixes every lifecycle stage at all times (round by round, the costlier rounds, e.g.
# the approval's, would briefly exceed the worker's capacity at a rate that is half its
# average maximum).
LATENCY_STAGGER = 100
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PipelineConfig:
    bootstrap: str
    workflows: int  # N
    events_per_workflow: int  # M
    faust_workflows: int
    partitions: int
    payload_bytes: int
    commit_interval_ms: int
    batch_size: int
    contenders: tuple[str, ...]
    tag: str
    latency_seconds: float
    latency_load: float  # offered rate as a fraction of agentflow's measured maximum
    scale_live: tuple[int, ...]
    scale_touched: int  # live workflows that get one measured cycle per stage
    keep_topics: bool = False
    host_kafka_options: dict[str, str] = field(default_factory=dict)
    latency_rate: float | None = None  # a fixed offered rate instead of latency_load

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflows": self.workflows,
            "events_per_workflow": self.events_per_workflow,
            "events": self.workflows * self.events_per_workflow,
            "faust_workflows": self.faust_workflows,
            "faust_events": self.faust_workflows * self.events_per_workflow,
            "partitions": self.partitions,
            "payload_bytes_target": self.payload_bytes,
            "commit_interval_ms": self.commit_interval_ms,
            "batch_size": self.batch_size,
            "input_acks": "all",
            "input_partitioner": "murmur2_random",
            "input_compression": "none",
            "output_timestamps": "LogAppendTime",
            "host_kafka_options": self.host_kafka_options,
        }


# -- reading the worker's audit records ---------------------------------------------------
def _audit_schema() -> dict[str, Any]:
    entry = default_registry().record(AUDIT_RECORD)
    if entry is None:  # pragma: no cover - the schema ships with the package
        raise RuntimeError(f"no schema {AUDIT_RECORD}")
    return entry.wire_schema


_AUDIT_SCHEMA = _audit_schema()


def audit_datum(value: bytes) -> dict[str, Any]:
    """An audit record's fields (fastavro, no validation: the bench reads, it does not judge)."""
    body = io.BytesIO(value)
    body.seek(10)
    datum: Any = schemaless_reader(body, _AUDIT_SCHEMA, None)
    if not isinstance(datum, dict):  # pragma: no cover - a record reads as a dict
        raise ValueError("not an audit record")
    return datum


@dataclass
class AuditTally:
    """Counts decisions by kind, and per workflow, as a parser for :class:`OutputSummary`."""

    kinds: Counter[str] = field(default_factory=Counter)
    per_key: Counter[bytes] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def parse(self, key: bytes, value: bytes) -> int | None:
        try:
            datum = audit_datum(value)
        except Exception:
            return None
        self.kinds[datum["decision"]] += 1
        if datum["decision"] != "applied" and len(self.samples) < 3:
            self.samples.append(
                {k: datum[k] for k in ("event_id", "decision", "status_before", "rejection_reason")}
            )
        self.per_key[key] += 1
        return self.per_key[key]


def json_count(key: bytes, value: bytes) -> int | None:
    """A peer's output: the JSON record of the workflow, its ``events`` count."""
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    n = doc.get("events") if isinstance(doc, dict) else None
    return n if isinstance(n, int) else None


# -- topics of an agentflow deployment ------------------------------------------------------
def agentflow_topics(bootstrap: str, prefix: str, app_id: str, partitions: int) -> dict[str, str]:
    """Create the catalog's topics under ``prefix`` (audit with LogAppendTime); role -> name."""
    specs = []
    for spec in catalog(partitions=partitions, replication_factor=1, app_id=app_id):
        if spec.role == "audit":
            spec = replace(spec, extra_config={**spec.extra_config, **OUTPUT_TOPIC_CONFIG})
        specs.append(spec)
    ensure_topics({"bootstrap.servers": bootstrap}, specs, prefix=prefix)
    names = {s.role: prefix + s.name for s in specs if s.role != "changelog"}
    names["workflows_changelog"] = f"{prefix}{app_id}.workflows.changelog"
    return names


@dataclass
class Worker:
    """An ``agentflow worker`` subprocess (the default pipeline) of one bench deployment."""

    bootstrap: str
    prefix: str
    app_id: str
    data_dir: Path
    log_path: Path
    batch_size: int
    commit_interval_ms: int
    kafka_options: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environ = {k: v for k, v in _base_environ().items() if not k.startswith("AGENTFLOW_")}
        environ |= worker_environ()
        environ |= host_environ(
            self.bootstrap,
            app_id=self.app_id,
            prefix=self.prefix,
            data_dir=self.data_dir,
            batch_size=self.batch_size,
            commit_interval_ms=self.commit_interval_ms,
            kafka_options=self.kafka_options,
        )
        self.started = time.monotonic()
        self.proc = start_process(list(WORKER_CMD), environ, self.log_path)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float | None:
        return process_cpu_seconds(self.proc.pid) if self.proc else None

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.proc.pid) if self.proc else None

    def stats(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.data_dir / "stats.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def _base_environ() -> dict[str, str]:
    return dict(os.environ)


def app_id_for(tag: str, kind: str) -> str:
    """A topic- and group-safe application id unique to this run."""
    stamp = "".join(c for c in tag if c.isalnum())
    return f"{kind}{stamp}"


# -- latency --------------------------------------------------------------------------------
@dataclass
class LatencyResult:
    offered_rate: float
    achieved_rate: float
    seconds: float
    events: int
    received: int
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    producer_linger_ms: int = 5
    # CPU seconds the worker used per second while the events were offered (1.0 = one core).
    worker_cpu_utilisation: float | None = None
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute, before and after

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
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
    event id was first seen (``time.monotonic()``, one clock for every process on Linux)."""
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
    seen: dict[str, float] = {}
    ready.set()
    try:
        while not stop.is_set():
            # What is queued now; else wait for one record (consume(n, timeout) would wait out
            # its timeout for a full batch, adding to every latency it measures).
            msgs = consumer.consume(1000, timeout=0) or [
                m for m in [consumer.poll(0.05)] if m is not None
            ]
            now = time.monotonic()
            for msg in msgs:
                if msg.error() is None:
                    seen.setdefault(audit_datum(msg.value())["event_id"], now)
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
        self.seen: dict[str, float] = {}

    def start(self) -> None:
        self._proc.start()
        self._ready.wait(30)

    def finish(self) -> dict[str, float]:
        self._stop.set()
        self.seen = self._out.get(timeout=60)
        self._proc.join(10)
        return self.seen


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
    latencies = [1000 * (watcher.seen[e] - t) for e, t in sent.items() if e in watcher.seen]
    if os.environ.get("BENCH_LATENCY_DUMP"):
        Path(os.environ["BENCH_LATENCY_DUMP"]).write_text(
            json.dumps(
                [(round(t - started, 4), watcher.seen.get(e, -1) - t) for e, t in sent.items()]
            )
        )
    result = LatencyResult(
        offered_rate=rate,
        achieved_rate=len(events) / produced_s,
        seconds=produced_s,
        events=len(events),
        received=len(latencies),
        latencies_ms=latencies,
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


# -- the bench ----------------------------------------------------------------------------------
@dataclass
class ScaleStage:
    live_workflows: int
    measured_events: int = 0
    cycles_per_touched_workflow: float = 0.0
    events_per_s: float = 0.0
    events_per_cpu_s: float | None = None
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    outcome: str = "not run"
    preload_records: int = 0
    preload_seconds: float = 0.0
    # Recovery of the cold worker that starts this stage.
    restored_records: int = 0
    restore_seconds: float = 0.0
    first_event_seconds: float | None = None
    restores: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    load_average: float | None = None  # 1-minute, when the stage's measurement ended

    @property
    def restore_records_per_s(self) -> float | None:
        if not self.restored_records or self.restore_seconds <= 0:
            return None
        return self.restored_records / self.restore_seconds

    def scale_dict(self) -> dict[str, Any]:
        return {
            "live_workflows": self.live_workflows,
            "events_per_s": round(self.events_per_s, 1),
            "events_per_cpu_s": round(self.events_per_cpu_s, 1) if self.events_per_cpu_s else None,
            "measured_events": self.measured_events,
            "seconds": round(self.seconds, 3),
            "cycles_per_touched_workflow": round(self.cycles_per_touched_workflow, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1) if self.peak_rss_mb else None,
            "outcome": self.outcome,
            "preload_changelog_records": self.preload_records,
            "preload_seconds": round(self.preload_seconds, 2),
            "load_average": self.load_average,
            "note": self.note,
        }

    def recovery_dict(self) -> dict[str, Any]:
        rate = self.restore_records_per_s
        return {
            "live_workflows": self.live_workflows,
            "restored_records": self.restored_records,
            "restore_seconds": round(self.restore_seconds, 3),
            "restore_records_per_s": round(rate, 1) if rate else None,
            "first_event_seconds": round(self.first_event_seconds, 3)
            if self.first_event_seconds is not None
            else None,
            "restores_per_partition": [
                {k: r.get(k) for k in ("table", "partition", "records", "seconds")}
                for r in self.restores
                if r.get("records")
            ],
        }


class PipelineBench:
    """One run: comparison (+ latency on the agentflow worker), then the scale stages."""

    def __init__(self, config: PipelineConfig, progress: Progress) -> None:
        self.config = config
        self.progress = progress
        self.scratch = Path(tempfile.mkdtemp(prefix="agentflow-bench-pipeline-"))
        self.workload = Workload(config.tag.strip("-").replace("bench-", "")[:15] or "bench")
        self.events: list[Event] = []
        self.results: dict[str, ContenderResult] = {}
        self.latency: LatencyResult | None = None
        self.stages: list[ScaleStage] = []
        self.sizes: dict[str, float] = {}
        self.agentflow_extra: dict[str, Any] = {}
        self.max_rate = 0.0
        self.preloaded_state_bytes = 0
        self.latency_workflows = 0
        self.scale_event_sizes: dict[str, float] = {}

    # -- orchestration ------------------------------------------------------------------
    def run(self, *, compare: bool = True, latency: bool = True, scale: bool = True) -> None:
        try:
            if compare:
                self.run_comparison(latency=latency)
            if scale and self.config.scale_live:
                self.run_scale()
        finally:
            if not self.config.keep_topics:
                self._delete_topics(self.config.tag)
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _delete_topics(self, tag: str) -> None:
        try:
            deleted = delete_topics_containing(self.config.bootstrap, tag)
        except Exception as exc:  # cleanup only: keep the figures
            self.progress(f"could not delete topics with '{tag}': {exc}")
            return
        if deleted:
            self.progress(f"deleted {len(deleted)} topic(s) containing '{tag}'")

    # -- comparison ---------------------------------------------------------------------
    def run_comparison(self, latency: bool) -> None:
        cfg = self.config
        n, m = cfg.workflows, cfg.events_per_workflow
        self.progress(f"pipeline: building {n:,} workflows x {m} signed events")
        t = time.monotonic()
        self.events = list(self.workload.lifecycles(0, n, m))
        self.sizes = mean_sizes(self.events)
        self.progress(
            f"pipeline: {len(self.events):,} events in {time.monotonic() - t:.1f}s, "
            f"mean value {self.sizes['value_bytes']:.0f} B + headers "
            f"{self.sizes['header_bytes']:.0f} B"
        )
        for name in cfg.contenders:
            if name == "agentflow":
                self.results[name] = self.run_agentflow(latency)
            else:
                result = self.run_peer(name)
                if name == "quix" and result.outcome != "complete" and not result.summary.records:
                    self.progress("quix: exactly-once produced nothing; retrying at-least-once")
                    fallback = self.run_peer("quix", variant="alo")
                    fallback.note = f"exactly-once failed ({result.outcome}); " + fallback.note
                    result = fallback
                self.results[name] = result

    def _events_for(self, name: str) -> list[Event]:
        if name != "faust":
            return self.events
        cap = self.config.faust_workflows
        return [e for e in self.events if e.workflow < cap]

    def run_peer(self, name: str, variant: str = "") -> ContenderResult:
        cfg = self.config
        events = self._events_for(name)
        n = len(events)
        label = f"{name}-{variant}" if variant else name
        base = f"{cfg.tag}pipe-{label}"
        input_topic, output_topic = f"{base}.in", f"{base}.out"
        workdir = self.scratch / f"pipe-{label}"
        workdir.mkdir(parents=True)
        guarantee = {
            "limit": "none",
            "quix": "at-least-once" if variant == "alo" else "exactly-once",
            "faust": "at_least_once",
        }[name]
        result = ContenderResult(label, n, guarantee, state="")
        create_topics(cfg.bootstrap, [input_topic], cfg.partitions)
        create_topics(cfg.bootstrap, [output_topic], cfg.partitions, OUTPUT_TOPIC_CONFIG)
        self.progress(f"pipeline {label}: producing {n:,} input events")
        _, result.produce_seconds = produce_records(
            cfg.bootstrap, input_topic, (e.record() for e in events)
        )
        env = AppEnv(
            bootstrap=cfg.bootstrap,
            input_topic=input_topic,
            output_topic=output_topic,
            group=base,
            state_dir=workdir / "state",
            partitions=cfg.partitions,
            commit_interval_ms=cfg.commit_interval_ms,
            batch_size=cfg.batch_size,
            guarantee=guarantee,
            info_file=workdir / "info.json",
        )
        if name == "limit":
            cmd = [sys.executable, "-m", "bench.limit_app"]
        elif name == "quix":
            cmd = [sys.executable, "-m", "bench.quix_pipeline_app"]
        else:
            cmd = [sys.executable, "-m", "bench.faust_pipeline_app", "worker", "-l", "warn"]
        environ = {k: v for k, v in _base_environ().items() if not k.startswith("AGENTFLOW_")}
        log_path = workdir / "contender.log"
        proc = start_process(cmd, environ | env.to_environ(), log_path)
        started = time.monotonic()
        try:
            summary, outcome = wait_for_outputs(
                cfg.bootstrap,
                output_topic,
                cfg.partitions,
                n,
                alive=lambda: proc.poll() is None,
                cpu_seconds=lambda: process_cpu_seconds(proc.pid),
                timeout_s=120 + n / 200,
                stall_s=60,
                progress=self.progress,
                parse=None if name == "limit" else json_count,
            )
            result.wall_seconds = time.monotonic() - started
        finally:
            stop_process(proc)
        self._finish(result, summary, outcome, log_path, events, read_info(env.info_file))
        if not cfg.keep_topics:
            self._delete_topics(base)
        return result

    def _finish(
        self,
        result: ContenderResult,
        summary: OutputSummary,
        outcome: str,
        log_path: Path,
        events: list[Event],
        info: dict[str, Any],
    ) -> None:
        result.summary, result.outcome = summary, outcome
        result.note = (result.note + "; " if result.note else "") + (
            f"load average {os.getloadavg()[0]:.2f} when done"
        )
        if info:
            result.guarantee = str(info.get("guarantee", result.guarantee))
            result.state = str(info.get("state", ""))
        if summary.parse is not None:
            want = Counter(e.key for e in events)
            result.correct = summary.unparsable == 0 and dict(summary.max_count) == dict(want)
        if outcome != "complete":
            result.log_tail = _tail(log_path)
            self.progress(f"{result.name}: {outcome}; last log lines:\n{result.log_tail}")
        self.progress(
            f"pipeline {result.name}: {summary.records:,}/{result.expected:,} outputs, "
            f"{summary.events_per_s:,.0f} events/s over {summary.seconds:.2f}s ({outcome}, "
            f"wall {result.wall_seconds:.1f}s, {summary.events_per_cpu_s or 0:,.0f} events/CPU-s)"
        )

    def run_agentflow(self, latency: bool) -> ContenderResult:
        cfg = self.config
        events = self.events
        n = len(events)
        app_id = app_id_for(cfg.tag, "pipe")
        prefix = f"{cfg.tag}pipe-agentflow."
        topics = agentflow_topics(cfg.bootstrap, prefix, app_id, cfg.partitions)
        workdir = self.scratch / "pipe-agentflow"
        workdir.mkdir(parents=True)
        result = ContenderResult(
            "agentflow", n, "exactly_once", state="rocksdb (rocksdict) + changelog"
        )
        self.progress(f"pipeline agentflow: producing {n:,} input events to {topics['ingress']}")
        _, result.produce_seconds = produce_records(
            cfg.bootstrap, topics["ingress"], (e.record() for e in events)
        )
        worker = Worker(
            cfg.bootstrap,
            prefix,
            app_id,
            workdir / "data",
            workdir / "worker.log",
            cfg.batch_size,
            cfg.commit_interval_ms,
            cfg.host_kafka_options,
        )
        tally = AuditTally()
        worker.start()
        try:
            summary, outcome = wait_for_outputs(
                cfg.bootstrap,
                topics["audit"],
                cfg.partitions,
                n,
                alive=worker.alive,
                cpu_seconds=worker.cpu_seconds,
                timeout_s=180 + n / 100,
                stall_s=60,
                progress=self.progress,
                parse=tally.parse,
            )
            result.wall_seconds = time.monotonic() - worker.started
            self._finish(result, summary, outcome, worker.log_path, events, {})
            quarantined = sum(
                partition_ends(cfg.bootstrap, topics["quarantine"], cfg.partitions).values()
            )
            result.correct = bool(result.correct) and set(tally.kinds) == {"applied"}
            result.note = (
                f"decisions {dict(tally.kinds)}; quarantine records {quarantined}; "
                "outputs counted on the audit topic (one record per decision); " + result.note
            )
            self.agentflow_extra = {
                "decisions": dict(tally.kinds),
                "quarantine_records": quarantined,
                "non_applied_samples": tally.samples,
                "peak_rss_mb": worker.peak_rss_mb(),
                "worker_stats": {
                    k: worker.stats().get(k)
                    for k in ("records", "batches", "avg_batch_size", "commits", "commit_ms_avg")
                },
                "records_out_per_event": self._records_out(cfg, topics, n),
            }
            if latency and outcome == "complete" and summary.events_per_s > 0:
                self.max_rate = summary.events_per_s
                self.latency = self.run_latency(worker, topics, summary.events_per_s)
        finally:
            worker.stop()
        return result

    def _records_out(self, cfg: PipelineConfig, topics: dict[str, str], n: int) -> dict[str, Any]:
        """End offsets per output topic / events (transaction markers included)."""
        out = {}
        for role in ("events", "steps", "outputs", "audit", "quarantine", "workflows_changelog"):
            total = sum(partition_ends(cfg.bootstrap, topics[role], cfg.partitions).values())
            out[role] = round(total / n, 3)
        return out

    def run_latency(self, worker: Worker, topics: dict[str, str], max_rate: float) -> LatencyResult:
        cfg = self.config
        rate = cfg.latency_rate or max(1.0, cfg.latency_load * max_rate)
        total = int(rate * cfg.latency_seconds)
        m = cfg.events_per_workflow
        workflows = max(1, math.ceil(total / m))
        first = cfg.workflows + 1_000_000  # ids apart from the comparison's
        self.progress(
            f"latency: {workflows:,} workflows x {m} events at {rate:,.0f} events/s "
            f"({rate / max_rate:.0%} of {max_rate:,.0f}) for ~{cfg.latency_seconds:.0f}s"
        )
        events = list(self.workload.lifecycles(first, workflows, m, stagger=LATENCY_STAGGER))
        self.latency_workflows = workflows
        return paced_latency(
            cfg.bootstrap,
            topics["ingress"],
            topics["audit"],
            cfg.partitions,
            events,
            rate,
            self.progress,
            worker.cpu_seconds,
        )

    # -- scale and recovery ---------------------------------------------------------------
    def run_scale(self) -> None:
        cfg = self.config
        app_id = app_id_for(cfg.tag, "scale")
        prefix = f"{cfg.tag}scale."
        topics = agentflow_topics(cfg.bootstrap, prefix, app_id, cfg.partitions)
        workload = Workload(self.workload.tag + "s", payload_bytes=cfg.payload_bytes)
        now_ms = int(time.time() * 1000)
        live = LiveStates(workload, now_ms, cfg.partitions)
        live.verify(upto=max(cfg.scale_live))
        self.preloaded_state_bytes = live.state_bytes
        self.progress(
            f"scale: pre-loaded workflow state is {live.state_bytes} B (verified byte-equal "
            "with the pipeline's own decision)"
        )
        cycles_done: dict[int, int] = {}
        loaded = 0
        for k in cfg.scale_live:
            stage = ScaleStage(k)
            self.stages.append(stage)
            t = time.monotonic()
            records, _ = produce_records(
                cfg.bootstrap,
                topics["workflows_changelog"],
                live.records(loaded, k - loaded),
                compression="lz4",
            )
            stage.preload_records, stage.preload_seconds = records, time.monotonic() - t
            loaded = k
            self.progress(
                f"scale {k:,}: {records:,} workflow states written to the changelog in "
                f"{stage.preload_seconds:.1f}s"
            )
            self._stage(stage, workload, topics, prefix, app_id, cycles_done)

    def _stage(
        self,
        stage: ScaleStage,
        workload: Workload,
        topics: dict[str, str],
        prefix: str,
        app_id: str,
        cycles_done: dict[int, int],
    ) -> None:
        cfg = self.config
        k = stage.live_workflows
        # The probe: one info-loop cycle of one live workflow, waiting before the worker starts.
        probe_w = k - 1
        probe = [workload.loop_event(probe_w, cycles_done.get(probe_w, 0), s) for s in range(3)]
        cycles_done[probe_w] = cycles_done.get(probe_w, 0) + 1
        # One cycle for each of min(k - 1, scale_touched) live workflows (not the probe's),
        # so every stage does the same work per event on states of the same size.
        touched_n = min(k - 1, cfg.scale_touched)
        measured = list(workload.loops(k - 1, 3 * touched_n, cycles_done))
        touched = len({e.workflow for e in measured})
        self.scale_event_sizes = mean_sizes(measured)
        stage.measured_events = len(measured)
        stage.cycles_per_touched_workflow = len(measured) / 3 / max(touched, 1)
        audit_start = partition_ends(cfg.bootstrap, topics["audit"], cfg.partitions)
        produce_records(cfg.bootstrap, topics["ingress"], (e.record() for e in probe))
        workdir = self.scratch / f"scale-{k}"
        worker = Worker(
            cfg.bootstrap,
            prefix,
            app_id,
            workdir / "data",
            workdir.with_suffix(".log"),
            cfg.batch_size,
            cfg.commit_interval_ms,
            cfg.host_kafka_options,
        )
        workdir.mkdir(parents=True)
        self.progress(f"scale {k:,}: cold worker (empty data directory) starts; restoring")
        worker.start()
        try:
            first = self._wait_probe(topics["audit"], audit_start, worker, len(probe), 600)
            stage.first_event_seconds = first
            stats = worker.stats()
            stage.restores = list(stats.get("restores") or [])
            stage.restored_records = int(stats.get("restored_records") or 0)
            stage.restore_seconds = float(stats.get("restore_seconds") or 0.0)
            if first is None:
                stage.outcome = "no first event"
                stage.note = _tail(worker.log_path)
                self.progress(f"scale {k:,}: the probe was not processed\n{stage.note}")
                return
            rate = stage.restore_records_per_s or 0
            self.progress(
                f"scale {k:,}: restored {stage.restored_records:,} changelog records in "
                f"{stage.restore_seconds:.1f}s ({rate:,.0f}/s); first event processed "
                f"{first:.1f}s after start"
            )
            start = partition_ends(cfg.bootstrap, topics["audit"], cfg.partitions)
            produce_records(cfg.bootstrap, topics["ingress"], (e.record() for e in measured))
            summary, outcome = wait_for_outputs(
                cfg.bootstrap,
                topics["audit"],
                cfg.partitions,
                len(measured),
                alive=worker.alive,
                cpu_seconds=worker.cpu_seconds,
                timeout_s=120 + len(measured) / 100,
                stall_s=60,
                progress=self.progress,
                parse=None,
                start=start,
            )
            stage.outcome = outcome
            stage.events_per_s = summary.events_per_s
            stage.events_per_cpu_s = summary.events_per_cpu_s
            stage.seconds = summary.seconds
            stage.peak_rss_mb = worker.peak_rss_mb()
            stage.load_average = round(os.getloadavg()[0], 2)
            self.progress(
                f"scale {k:,}: {summary.records:,}/{len(measured):,} events, "
                f"{summary.events_per_s:,.0f} events/s ({outcome}), peak RSS "
                f"{stage.peak_rss_mb or 0:.0f} MiB, "
                f"{stage.cycles_per_touched_workflow:.1f} cycles per touched workflow"
            )
            if outcome != "complete":
                stage.note = _tail(worker.log_path)
        finally:
            worker.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    def _wait_probe(
        self, audit: str, start: dict[int, int], worker: Worker, count: int, timeout_s: float
    ) -> float | None:
        """Seconds from the worker's start until its first audit record is visible; returns
        once ``count`` are (or on timeout)."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.config.bootstrap,
                "group.id": f"bench-first-{time.time_ns()}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                "log_level": 3,
            }
        )
        consumer.assign([TopicPartition(audit, p, o) for p, o in start.items()])
        deadline = time.monotonic() + timeout_s
        first: float | None = None
        seen = 0
        try:
            while time.monotonic() < deadline and worker.alive() and seen < count:
                for msg in consumer.consume(10, timeout=0.05):
                    if msg.error() is None:
                        seen += 1
                        if first is None:
                            first = time.monotonic() - worker.started
        finally:
            consumer.close()
        return first

    # -- figures --------------------------------------------------------------------------
    def document(self) -> dict[str, Any]:
        contenders = {name: r.as_dict() for name, r in self.results.items()}
        if "agentflow" in contenders:
            contenders["agentflow"].update(self.agentflow_extra)
        return {
            "settings": {**self.config.as_dict(), **self.sizes},
            "workload": (
                "support_triage lifecycles: ticket.created, (step.completed classify:needs_info, "
                "step.completed request_info, customer.replied) x k, step.completed "
                "classify:refund, step.completed propose_refund, approval.granted, "
                "step.completed execute_refund; every event applied by the orchestrator"
            ),
            "contenders": contenders,
        }

    def _common_settings(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "partitions": cfg.partitions,
            "commit_interval_ms": cfg.commit_interval_ms,
            "batch_size": cfg.batch_size,
            "guarantee": "exactly_once",
            "input_acks": "all",
        }

    def latency_document(self) -> dict[str, Any] | None:
        if self.latency is None:
            return None
        return {
            **self.latency.as_dict(),
            "load_fraction": round(self.latency.offered_rate / self.max_rate, 3)
            if self.max_rate
            else None,
            "measured_to": "audit record visible to a read_committed consumer",
            "settings": {
                **self._common_settings(),
                "workflows": self.latency_workflows,
                "events_per_workflow": self.config.events_per_workflow,
                "stagger": LATENCY_STAGGER,
                "max_events_per_s": round(self.max_rate, 1),
                **self.sizes,
            },
        }

    def scale_document(self) -> dict[str, Any] | None:
        if not self.stages:
            return None
        return {
            "stages": [s.scale_dict() for s in self.stages],
            "settings": {
                **self._common_settings(),
                "live_workflows": list(self.config.scale_live),
                "touched_workflows_per_stage": self.config.scale_touched,
                "preloaded_state_bytes": self.preloaded_state_bytes,
                **self.scale_event_sizes,
            },
            "workload": (
                "one info-loop cycle (step.completed classify:needs_info, step.completed "
                "request_info, customer.replied) for each of min(live - 1, touched) live "
                "workflows drawn at random, round by round; live workflows pre-loaded in "
                "'classifying' (see bench/preload.py)"
            ),
        }

    def recovery_document(self) -> dict[str, Any] | None:
        if not self.stages:
            return None
        return {
            "stages": [s.recovery_dict() for s in self.stages],
            "settings": {
                **self._common_settings(),
                "preloaded_state_bytes": self.preloaded_state_bytes,
                "preload_compression": "lz4",
                "tables": ["workflows", "timers"],
            },
            "method": (
                "a cold worker (empty data directory) restores the workflows and timers "
                "changelogs, then processes a probe event waiting on ingress; "
                "first_event_seconds = process start -> the probe's audit record visible "
                "(read_committed), including interpreter start-up, group join and restore"
            ),
        }
