"""Runs the contenders one after another on the same input and collects their figures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.apps import AppEnv, read_info
from bench.kafka import (
    CHANGELOG_TOPIC_CONFIG,
    OUTPUT_TOPIC_CONFIG,
    InputData,
    OutputSummary,
    create_topics,
    process_cpu_seconds,
    produce_input,
    wait_for_outputs,
)
from bench.procs import (
    WORKER_CMD,
    Progress,
    delete_topics_quietly,
    host_environ,
    start_process,
    stop_process,
    tail,
)

CONTENDERS = ("limit", "host", "quix", "faust")
HOST_APP_ID = "counter"
COUNTER = "examples.counter:CounterProcessor"


@dataclass(frozen=True)
class BenchConfig:
    bootstrap: str
    records: int
    faust_records: int
    keys: int
    partitions: int
    value_size: int
    commit_interval_ms: int
    batch_size: int
    contenders: tuple[str, ...]
    tag: str
    quick: bool
    keep_topics: bool = False
    # Extra librdkafka options for the host (AGENTFLOW_KAFKA_OPTIONS), to measure tuning.
    host_kafka_options: dict[str, str] = field(default_factory=dict)

    def records_for(self, contender: str) -> int:
        return self.faust_records if contender == "faust" else self.records


@dataclass
class ContenderResult:
    name: str
    expected: int
    guarantee: str
    state: str
    outcome: str = "not run"
    summary: OutputSummary = field(default_factory=OutputSummary)
    wall_seconds: float = 0.0
    produce_seconds: float = 0.0
    correct: bool | None = None
    note: str = ""
    log_tail: str = ""

    def as_dict(self) -> dict[str, Any]:
        s = self.summary
        return {
            "events_per_s": round(s.events_per_s, 1),
            "events_per_cpu_s": round(s.events_per_cpu_s, 1) if s.events_per_cpu_s else None,
            "cpu_window": {"output_offsets": s.window_offsets, "cpu_s": round(s.window_cpu_s, 2)},
            "records": s.records,
            "expected": self.expected,
            "seconds": round(s.seconds, 3),
            "wall_seconds": round(self.wall_seconds, 2),
            "produce_input_seconds": round(self.produce_seconds, 2),
            "outcome": self.outcome,
            "guarantee": self.guarantee,
            "state": self.state,
            "counts_correct": self.correct,
            "log_append_time": s.log_append_time,
            "note": self.note,
        }


class Bench:
    """One bench run: a unique topic tag, a scratch directory, the contenders in order."""

    def __init__(self, config: BenchConfig, progress: Progress) -> None:
        self.config = config
        self.progress = progress
        self.data = InputData(config.records, config.keys, config.value_size)
        self.scratch = Path(tempfile.mkdtemp(prefix="agentflow-bench-"))

    def run(self) -> dict[str, ContenderResult]:
        results: dict[str, ContenderResult] = {}
        try:
            for name in self.config.contenders:
                result = self.run_contender(name)
                if name == "quix" and result.outcome != "complete" and not result.summary.records:
                    self.progress("quix: exactly-once produced nothing; retrying at-least-once")
                    fallback = self.run_contender("quix", variant="alo")
                    fallback.note = f"exactly-once failed ({result.outcome}); " + fallback.note
                    result = fallback
                results[name] = result
        finally:
            if not self.config.keep_topics:
                self._delete_topics(self.config.tag)
            shutil.rmtree(self.scratch, ignore_errors=True)
        return results

    # -- one contender ------------------------------------------------------------------
    def run_contender(self, name: str, variant: str = "") -> ContenderResult:
        cfg = self.config
        n = cfg.records_for(name)
        label = f"{name}-{variant}" if variant else name
        base = f"{cfg.tag}{label}"
        input_topic, output_topic = f"{base}.in", f"{base}.out"
        workdir = self.scratch / label
        workdir.mkdir(parents=True)
        guarantee = {
            "limit": "none",
            "host": "exactly_once",
            "quix": "at-least-once" if variant == "alo" else "exactly-once",
            "faust": "at_least_once",
        }[name]
        result = ContenderResult(label, n, guarantee, state="")
        self.progress(f"{label}: creating topics {input_topic}, {output_topic}")
        create_topics(cfg.bootstrap, [input_topic], cfg.partitions)
        create_topics(cfg.bootstrap, [output_topic], cfg.partitions, OUTPUT_TOPIC_CONFIG)
        if name == "host":
            changelog = f"{base}.{HOST_APP_ID}.counts.changelog"
            create_topics(cfg.bootstrap, [changelog], cfg.partitions, CHANGELOG_TOPIC_CONFIG)
            # Where the host sends a record its processor raises on; checked at start-up.
            create_topics(cfg.bootstrap, [f"{base}.agentflow.quarantine"], cfg.partitions)
        self.progress(f"{label}: producing {n:,} input records (acks=all, murmur2_random)")
        result.produce_seconds = produce_input(cfg.bootstrap, input_topic, self.data, n)
        self.progress(f"{label}: input produced in {result.produce_seconds:.1f}s; starting")
        env = AppEnv.for_run(cfg, input_topic, output_topic, base, workdir, guarantee)
        log_path = workdir / "contender.log"
        proc = self._start(name, env, base, log_path)
        started = time.monotonic()
        try:
            summary, outcome = wait_for_outputs(
                cfg.bootstrap,
                output_topic,
                cfg.partitions,
                n,
                alive=lambda: proc.poll() is None,
                cpu_seconds=lambda: process_cpu_seconds(proc.pid),
                timeout_s=120 + n / 250,
                stall_s=60,
                progress=self.progress,
            )
            result.wall_seconds = time.monotonic() - started
        finally:
            self._stop(proc)
        result.summary, result.outcome = summary, outcome
        info = read_info(env.info_file)
        result.guarantee = str(info.get("guarantee", guarantee))
        result.state = str(info.get("state", ""))
        if name != "limit":
            result.correct = self._check_counts(summary, n)
        if outcome != "complete":
            result.log_tail = tail(log_path)
            self.progress(f"{label}: {outcome}; last log lines:\n{result.log_tail}")
        self.progress(
            f"{label}: {summary.records:,}/{n:,} outputs, {summary.events_per_s:,.0f} events/s "
            f"over {summary.seconds:.2f}s ({outcome}, wall {result.wall_seconds:.1f}s)"
        )
        if not self.config.keep_topics:
            self._delete_topics(base)
        return result

    def _start(self, name: str, env: AppEnv, base: str, log_path: Path) -> subprocess.Popen[bytes]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENTFLOW_")}
        environ |= env.to_environ()
        if name == "host":
            data_dir = env.state_dir
            environ |= host_environ(
                env.bootstrap,
                app_id=HOST_APP_ID,
                prefix=f"{base}.",
                data_dir=data_dir,
                batch_size=env.batch_size,
                commit_interval_ms=env.commit_interval_ms,
                kafka_options=self.config.host_kafka_options,
            )
            data_dir.mkdir(parents=True, exist_ok=True)
            env.write_info({"guarantee": "exactly_once", "state": "rocksdb (rocksdict)"})
            cmd = [
                *WORKER_CMD,
                "--processor",
                COUNTER,
                "--role",
                f"input={env.input_topic}",
                "--role",
                f"output={env.output_topic}",
            ]
        elif name == "faust":
            cmd = [sys.executable, "-m", "bench.faust_app", "worker", "-l", "warn"]
        else:
            cmd = [sys.executable, "-m", f"bench.{name}_app"]
        return start_process(cmd, environ, log_path)

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        stop_process(proc)

    def _check_counts(self, summary: OutputSummary, n: int) -> bool:
        """Every key's last count equals its number of inputs, and every value parsed."""
        return summary.unparsable == 0 and summary.max_count == self.data.expected_counts(n)

    def _delete_topics(self, tag: str) -> None:
        delete_topics_quietly(self.config.bootstrap, tag, self.progress)
