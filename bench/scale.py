"""The scale and recovery stages of the pipeline bench: live workflows pre-loaded into the
changelog, a cold ``agentflow worker`` restoring them, then a measured cycle per touched
workflow (see :mod:`bench.preload`)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.agentflow_worker import Worker, agentflow_topics, app_id_for
from bench.kafka import partition_ends, produce_records, wait_for_outputs
from bench.pipeline_config import PipelineConfig
from bench.preload import LiveStates
from bench.procs import Progress, tail
from bench.workload import Workload, mean_sizes


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


class ScaleBench:
    """The scale stages of one run; each stage's cold start is also its recovery figure."""

    def __init__(
        self, config: PipelineConfig, progress: Progress, scratch: Path, workload: Workload
    ) -> None:
        self.config = config
        self.progress = progress
        self.scratch = scratch
        self.workload = workload
        self.stages: list[ScaleStage] = []
        self.preloaded_state_bytes = 0
        self.scale_event_sizes: dict[str, float] = {}

    def run(self) -> None:
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
            cfg.worker_env,
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
                stage.note = tail(worker.log_path)
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
                stage.note = tail(worker.log_path)
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

    def scale_document(self, common: dict[str, Any]) -> dict[str, Any] | None:
        if not self.stages:
            return None
        return {
            "stages": [s.scale_dict() for s in self.stages],
            "settings": {
                **common,
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

    def recovery_document(self, common: dict[str, Any]) -> dict[str, Any] | None:
        if not self.stages:
            return None
        return {
            "stages": [s.recovery_dict() for s in self.stages],
            "settings": {
                **common,
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
