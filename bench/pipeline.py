"""The whole-pipeline bench: ``agentflow worker`` against a passthrough limit, Quix and faust
peers on the same signed events; its latency at half load; its cost as live workflows grow;
and how fast a cold worker recovers.

See ``bench/README.md`` for the method; :mod:`bench.workload` for the events and
:mod:`bench.preload` for how live workflows are pre-loaded.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.agentflow_worker import AuditTally, Worker, agentflow_topics, app_id_for
from bench.kafka import partition_ends, produce_records, wait_for_outputs
from bench.latency import LATENCY_STAGGER, LatencyResult, paced_latency
from bench.peers import finish_result, run_peer
from bench.pipeline_config import PipelineConfig
from bench.procs import Progress, delete_topics_quietly
from bench.replay import measure_replay
from bench.runner import ContenderResult
from bench.scale import ScaleBench, ScaleStage
from bench.workload import Event, Workload, mean_sizes


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
        self.scale = ScaleBench(config, progress, self.scratch, self.workload)
        self.sizes: dict[str, float] = {}
        self.agentflow_extra: dict[str, Any] = {}
        self.max_rate = 0.0
        self.latency_workflows = 0
        self.latency_worker_stats: dict[str, Any] = {}

    # -- orchestration ------------------------------------------------------------------
    def run(self, *, compare: bool = True, latency: bool = True, scale: bool = True) -> None:
        try:
            if compare:
                self.run_comparison(latency=latency)
            if scale and self.config.scale_live:
                self.scale.run()
        finally:
            if not self.config.keep_topics:
                self._delete_topics(self.config.tag)
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _delete_topics(self, tag: str) -> None:
        delete_topics_quietly(self.config.bootstrap, tag, self.progress)

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
        return run_peer(
            self.config, self.scratch, self._events_for(name), self.progress, name, variant
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
            cfg.worker_env,
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
            finish_result(result, summary, outcome, worker.log_path, events, {}, self.progress)
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
        if result.outcome == "complete":
            self.progress("replay: the agentflow contender's history, dry run")
            replayed = measure_replay(cfg.bootstrap, prefix, app_id, cfg.partitions)
            self.agentflow_extra["replay"] = replayed
            self.progress(
                f"replay: {replayed['events']:,} events in {replayed['seconds']}s, "
                f"{replayed['events_per_s']:,.0f} events/s; {replayed['totals']}"
            )
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
        before = worker.stats()
        result = paced_latency(
            cfg.bootstrap,
            topics["ingress"],
            topics["audit"],
            cfg.partitions,
            events,
            rate,
            self.progress,
            worker.cpu_seconds,
        )
        self.latency_worker_stats = stats_delta(before, worker.stats())
        self.progress(f"latency: worker {self.latency_worker_stats}")
        return result

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
            "worker_stats": self.latency_worker_stats,
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
        return self.scale.scale_document(self._common_settings())

    def recovery_document(self) -> dict[str, Any] | None:
        return self.scale.recovery_document(self._common_settings())

    # -- the scale stages' state, where it is kept -------------------------------------
    @property
    def stages(self) -> list[ScaleStage]:
        return self.scale.stages

    @property
    def preloaded_state_bytes(self) -> int:
        return self.scale.preloaded_state_bytes

    @property
    def scale_event_sizes(self) -> dict[str, float]:
        return self.scale.scale_event_sizes


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What a worker did between two readings of its stats file: batches, their mean size,
    commits and their mean duration (empty if either reading is missing)."""
    if not before or not after:
        return {}
    records = after["records"] - before["records"]
    batches = after["batches"] - before["batches"]
    commits = after["commits"] - before["commits"]
    commit_ms = (
        after["commit_ms_avg"] * after["commits"] - before["commit_ms_avg"] * before["commits"]
    )
    return {
        "records": records,
        "batches": batches,
        "avg_batch_size": round(records / batches, 1) if batches else 0,
        "commits": commits,
        "records_per_commit": round(records / commits, 1) if commits else 0,
        "commit_ms_avg": round(commit_ms / commits, 2) if commits else 0,
    }
