"""``python -m bench.profile_host``: profile the stream host's hot path with pyinstrument.

Runs :class:`streams.host.StreamHost` in this process with the per-key counter, or with
``--pipeline`` the worker's default processor (gate + orchestrator) over the pipeline bench's
signed events (:mod:`bench.workload`), exactly-once by default, over pre-produced input, and
profiles only the steady state: the
host is started and its partitions assigned before the profiler starts, and the profiler stops
once every record is processed (then the host is stopped). It calls the host's own
``_start`` / ``_cycle`` / ``_shutdown`` steps, exactly what ``StreamHost.run`` does, so group
join and restore stay out of the profile.

Prints the figures of the profiled span, a flat list of the costliest functions (self time) and
pyinstrument's call tree; ``--out`` also writes them to a file.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame
from pyinstrument.session import Session

from bench.agentflow_worker import agentflow_topics
from bench.kafka import (
    CHANGELOG_TOPIC_CONFIG,
    OUTPUT_TOPIC_CONFIG,
    InputData,
    create_topics,
    delete_topics_containing,
    produce_input,
    produce_records,
)
from bench.preload import pipeline as workflow_pipeline
from bench.workload import Workload
from examples.counter import CounterProcessor
from processors.deployment import Deployment
from streams.collector import tune_collector
from streams.host import StreamHost
from streams.settings import HostSettings, KafkaSettings, ProcessingGuarantee
from streams.stats import StatsObserver

APP_ID = "counter"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.profile_host", description=__doc__)
    p.add_argument(
        "--pipeline",
        action="store_true",
        help="the worker's gate + orchestrator on signed support_triage events, not the counter",
    )
    p.add_argument(
        "--workflows", type=int, default=4000, help="--pipeline: N workflows (x 8 events)"
    )
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--value-size", type=int, default=600)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=2000)
    p.add_argument("--commit-interval-ms", type=int, default=100)
    p.add_argument("--at-least-once", action="store_true", help="instead of exactly-once")
    p.add_argument("--interval", type=float, default=0.001, help="sampling interval (s)")
    p.add_argument("--top", type=int, default=25, help="rows of the flat self-time list")
    p.add_argument(
        "--kafka-options",
        type=json.loads,
        default={},
        metavar="JSON",
        help="extra librdkafka options (Settings.kafka_options), as a JSON object",
    )
    p.add_argument("--bootstrap", default="127.0.0.1:9092")
    p.add_argument("--out", type=Path, help="also write the report to this file")
    return p.parse_args(argv)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def profile(args: argparse.Namespace, prefix: str, data_dir: Path) -> str:
    guarantee = (
        ProcessingGuarantee.AT_LEAST_ONCE
        if args.at_least_once
        else ProcessingGuarantee.EXACTLY_ONCE
    )
    if args.pipeline:
        app_id = f"profile{prefix.strip('-').replace('-', '')[-14:]}"
        roles = agentflow_topics(args.bootstrap, prefix, app_id, args.partitions)
        roles.pop("workflows_changelog")
        workload = Workload("profile")
        log(f"producing {args.workflows:,} workflows x 8 signed events to {roles['ingress']}")
        args.records, _ = produce_records(
            args.bootstrap,
            roles["ingress"],
            (e.record() for e in workload.lifecycles(0, args.workflows, 8)),
        )
        processors: list[Any] = [workflow_pipeline()]
        what = f"pipeline: gate + orchestrator, {args.workflows:,} workflows x 8 events"
    else:
        app_id = APP_ID
        input_topic, output_topic = f"{prefix}in", f"{prefix}out"
        changelog = f"{prefix}{APP_ID}.counts.changelog"
        create_topics(args.bootstrap, [input_topic, f"{prefix}quarantine"], args.partitions)
        create_topics(args.bootstrap, [output_topic], args.partitions, OUTPUT_TOPIC_CONFIG)
        create_topics(args.bootstrap, [changelog], args.partitions, CHANGELOG_TOPIC_CONFIG)
        data = InputData(args.records, args.keys, args.value_size)
        log(f"producing {args.records:,} input records to {input_topic}")
        produce_input(args.bootstrap, input_topic, data, args.records)
        roles = {"input": input_topic, "output": output_topic, "quarantine": f"{prefix}quarantine"}
        processors = [CounterProcessor()]
        what = f"counter, {args.keys} keys, {args.value_size} B values"
    kafka = KafkaSettings(
        bootstrap_servers=args.bootstrap,
        kafka_options={str(k): str(v) for k, v in args.kafka_options.items()},
    )
    host_settings = HostSettings(
        worker_id="profile",
        data_dir=data_dir,
        processing_guarantee=guarantee,
        batch_size=args.batch_size,
        commit_interval_ms=args.commit_interval_ms,
        stats_interval_s=3600.0,
    )
    deployment = Deployment(app_id, args.partitions, roles, topic_prefix=prefix)
    stats = StatsObserver()
    host = StreamHost(kafka, host_settings, deployment, processors, stats)
    log("starting the host (group join, restore) outside the profile")
    host._start()
    tune_collector(host_settings.gc_threshold)  # as the worker does
    profiler = Profiler(interval=args.interval, async_mode="disabled")
    try:
        deadline = time.monotonic() + 60
        while not stats.stats.records and time.monotonic() < deadline:
            host._cycle()
        if not stats.stats.records:
            raise RuntimeError("the host processed nothing within 60s")
        first = stats.stats.records
        commits0, commit_s0 = stats.stats.commits, stats.stats.commit_seconds_total
        batches0 = stats.stats.batches
        log(f"profiling from record {first:,} to {args.records:,}")
        started = time.monotonic()
        profiler.start()
        deadline = time.monotonic() + 300
        while stats.stats.records < args.records and time.monotonic() < deadline:
            host._cycle()
        profiler.stop()
        seconds = time.monotonic() - started
        host.request_stop()
    finally:
        if profiler.is_running:
            profiler.stop()
        host._shutdown()
    records = stats.stats.records - first
    commits = stats.stats.commits - commits0
    commit_s = stats.stats.commit_seconds_total - commit_s0
    batches = stats.stats.batches - batches0
    head = [
        f"host profile: {records:,} records in {seconds:.2f}s = {records / seconds:,.0f} rec/s "
        f"({what}; {guarantee.value}, batch {args.batch_size}, commit interval "
        f"{args.commit_interval_ms} ms"
        f"{', kafka options ' + json.dumps(args.kafka_options) if args.kafka_options else ''})",
        f"batches: {batches} (avg {records / max(batches, 1):,.0f} records); commits: {commits} "
        f"(avg {1000 * commit_s / max(commits, 1):.1f} ms, {commit_s:.2f}s = "
        f"{100 * commit_s / seconds:.0f}% of the span)",
        "",
        f"== top {args.top} functions by self time (wall clock, main thread) ==",
    ]
    session = profiler.last_session
    assert session is not None
    flat = flat_costs(session, args.top)
    tree = profiler.output_text(unicode=False, color=False, show_all=False)
    return "\n".join([*head, *flat, "", "== call tree ==", tree])


def flat_costs(session: Session, top: int) -> list[str]:
    """The ``top`` functions by self time, with their inclusive time, as table lines."""
    root = session.root_frame(trim_stem=False)
    if root is None:
        return ["(no samples)"]
    total = root.time
    self_time: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)

    def name(f: Frame) -> str:
        func = f"{f.class_name}.{f.function}" if f.class_name else f.function
        where = f.file_path_short or "?"
        if where.startswith(("<", "built-in")) or f.line_no in (None, 0):
            return f"{func} ({where})"
        return f"{func} ({where}:{f.line_no})"

    def walk(f: Frame, on_stack: frozenset[str]) -> None:
        key = name(f)
        real = [c for c in f.children if not c.is_synthetic]
        # A frame's own time: its synthetic "[self]" leaves plus any unattributed rest.
        self_time[key] += f.time - sum(c.time for c in real)
        if key not in on_stack:  # count recursion once
            inclusive[key] += f.time
        for child in real:
            walk(child, on_stack | {key})

    walk(root, frozenset())
    lines = [f"{'self s':>7} {'self %':>6} {'incl s':>7}  function"]
    for key, t in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{t:7.3f} {100 * t / total:5.1f}% {inclusive[key]:7.3f}  {key}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    prefix = f"bench-profile-{stamp}-"
    data_dir = Path(tempfile.mkdtemp(prefix="agentflow-profile-"))
    try:
        report = profile(args, prefix, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        deleted = delete_topics_containing(args.bootstrap, prefix)
        log(f"deleted {len(deleted)} topic(s)")
    print(report)
    if args.out is not None:
        args.out.write_text(report + "\n")
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
