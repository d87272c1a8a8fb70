"""The pipeline bench's peers of ``agentflow worker``: the passthrough limit, Quix and faust
apps (:mod:`bench.limit_app`, :mod:`bench.quix_pipeline_app`,
:mod:`bench.faust_pipeline_app`), each run on the same signed events."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.agentflow_worker import base_environ
from bench.apps import AppEnv, read_info
from bench.kafka import (
    OUTPUT_TOPIC_CONFIG,
    OutputSummary,
    create_topics,
    process_cpu_seconds,
    produce_records,
    wait_for_outputs,
)
from bench.pipeline_config import PipelineConfig
from bench.procs import Progress, delete_topics_quietly, start_process, stop_process, tail
from bench.runner import ContenderResult
from bench.workload import Event


def json_count(key: bytes, value: bytes) -> int | None:
    """A peer's output: the JSON record of the workflow, its ``events`` count."""
    try:
        doc = json.loads(value)
    except ValueError:
        return None
    n = doc.get("events") if isinstance(doc, dict) else None
    return n if isinstance(n, int) else None


def run_peer(
    cfg: PipelineConfig,
    scratch: Path,
    events: list[Event],
    progress: Progress,
    name: str,
    variant: str = "",
) -> ContenderResult:
    """Run one peer (limit, quix or faust) on ``events``; its figures."""
    n = len(events)
    label = f"{name}-{variant}" if variant else name
    base = f"{cfg.tag}pipe-{label}"
    input_topic, output_topic = f"{base}.in", f"{base}.out"
    workdir = scratch / f"pipe-{label}"
    workdir.mkdir(parents=True)
    guarantee = {
        "limit": "none",
        "quix": "at-least-once" if variant == "alo" else "exactly-once",
        "faust": "at_least_once",
    }[name]
    result = ContenderResult(label, n, guarantee, state="")
    create_topics(cfg.bootstrap, [input_topic], cfg.partitions)
    create_topics(cfg.bootstrap, [output_topic], cfg.partitions, OUTPUT_TOPIC_CONFIG)
    progress(f"pipeline {label}: producing {n:,} input events")
    _, result.produce_seconds = produce_records(
        cfg.bootstrap, input_topic, (e.record() for e in events)
    )
    env = AppEnv.for_run(cfg, input_topic, output_topic, base, workdir, guarantee)
    if name == "limit":
        cmd = [sys.executable, "-m", "bench.limit_app"]
    elif name == "quix":
        cmd = [sys.executable, "-m", "bench.quix_pipeline_app"]
    else:
        cmd = [sys.executable, "-m", "bench.faust_pipeline_app", "worker", "-l", "warn"]
    environ = {k: v for k, v in base_environ().items() if not k.startswith("AGENTFLOW_")}
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
            progress=progress,
            parse=None if name == "limit" else json_count,
        )
        result.wall_seconds = time.monotonic() - started
    finally:
        stop_process(proc)
    finish_result(result, summary, outcome, log_path, events, read_info(env.info_file), progress)
    if not cfg.keep_topics:
        delete_topics_quietly(cfg.bootstrap, base, progress)
    return result


def finish_result(
    result: ContenderResult,
    summary: OutputSummary,
    outcome: str,
    log_path: Path,
    events: list[Event],
    info: dict[str, Any],
    progress: Progress,
) -> None:
    """Record a contender's outcome, check its per-workflow counts, report it."""
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
        result.log_tail = tail(log_path)
        progress(f"{result.name}: {outcome}; last log lines:\n{result.log_tail}")
    progress(
        f"pipeline {result.name}: {summary.records:,}/{result.expected:,} outputs, "
        f"{summary.events_per_s:,.0f} events/s over {summary.seconds:.2f}s ({outcome}, "
        f"wall {result.wall_seconds:.1f}s, {summary.events_per_cpu_s or 0:,.0f} events/CPU-s)"
    )
