"""``python -m bench``: the whole bench in one run; ``bench/results/latest.{json,png}``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from bench.pipeline import PipelineBench
from bench.pipeline_config import PIPELINE_CONTENDERS, PipelineConfig
from bench.report import RESULTS_DIR, counter_document, document, print_table, save
from bench.runner import CONTENDERS, Bench, BenchConfig
from bench.steps import CONTENDERS as STEP_CONTENDERS
from bench.steps import StepsBench, StepsConfig
from bench.workload import valid_events_per_workflow

SUITES = ("pipeline", "latency", "scale", "counter", "steps")
FULL: dict[str, Any] = {
    "records": 200_000,
    "faust_records": 30_000,
    "workflows": 10_000,
    "faust_workflows": 1_000,
    "latency_seconds": 20.0,
    "scale_live": (1_000, 100_000, 1_000_000),
    "scale_touched": 10_000,
    "step_commands": 2_000,
}
QUICK: dict[str, Any] = {
    "records": 30_000,
    "faust_records": 5_000,
    "workflows": 2_000,
    "faust_workflows": 250,
    "latency_seconds": 8.0,
    "scale_live": (1_000, 10_000, 100_000),
    "scale_touched": 2_000,
    "step_commands": 500,
}


def _sizes(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = 1
        if part.endswith("k"):
            part, mult = part[:-1], 1_000
        elif part.endswith("m"):
            part, mult = part[:-1], 1_000_000
        out.append(int(float(part) * mult))
    return tuple(sorted(out))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark agentflow: the whole pipeline (agentflow worker: gate + orchestrator, "
            "exactly-once) against a raw confluent-kafka passthrough (the limit), Quix Streams "
            "and faust peers on the same signed events; its latency at half load; its "
            "throughput and memory as live workflows grow; cold-start recovery; and the stream "
            "host's per-key counter against the same three."
        ),
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes")
    p.add_argument(
        "--suites",
        default=",".join(SUITES),
        help=f"comma-separated parts to run (default {','.join(SUITES)})",
    )
    p.add_argument(
        "--only",
        help=(
            "comma-separated contenders to run in the comparisons (pipeline: "
            f"{', '.join(PIPELINE_CONTENDERS)}; counter: {', '.join(CONTENDERS)})"
        ),
    )
    g = p.add_argument_group("pipeline")
    g.add_argument("--workflows", type=int, help="N workflows (full 10k, quick 2k)")
    g.add_argument(
        "--events-per-workflow", type=int, default=8, help="M = 5 + 3k events (default 8)"
    )
    g.add_argument("--faust-workflows", type=int, help="N for faust (full 1k, quick 250)")
    g.add_argument(
        "--payload-bytes", type=int, default=500, help="event payload size (default 500)"
    )
    g.add_argument("--latency-seconds", type=float, help="paced run length (full 20, quick 8)")
    g.add_argument(
        "--latency-load",
        type=float,
        default=0.5,
        help="offered rate as a fraction of agentflow's measured maximum (default 0.5)",
    )
    g.add_argument(
        "--latency-rate",
        type=float,
        help="offer this many events/s instead (to compare builds at one rate)",
    )
    g.add_argument(
        "--scale-live",
        type=_sizes,
        help="live workflow counts, e.g. 1k,100k,1m (full 1k,100k,1m; quick 1k,10k,100k)",
    )
    g.add_argument(
        "--scale-touched",
        type=int,
        help="live workflows that get one measured info-loop cycle (3 events) per stage "
        "(full 10k, quick 2k; all of them in a smaller stage)",
    )
    g = p.add_argument_group("steps")
    g.add_argument("--step-commands", type=int, help="step commands (full 2,000, quick 500)")
    g.add_argument("--step-concurrency", type=int, default=100, help="steps in flight (100)")
    g.add_argument(
        "--model-latency-ms", type=int, default=200, help="the model's answer time (200)"
    )
    g = p.add_argument_group("counter")
    g.add_argument("--records", type=int, help="input records per contender (full 200k)")
    g.add_argument("--faust-records", type=int, help="records for faust (full 30k)")
    g.add_argument("--keys", type=int, default=1000, help="distinct keys (default 1000)")
    g.add_argument("--value-size", type=int, default=600, help="value bytes (default 600)")
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    p.add_argument(
        "--commit-interval-ms", type=int, default=100, help="every contender (default 100)"
    )
    p.add_argument("--batch-size", type=int, default=2000, help="consume batch (default 2000)")
    p.add_argument(
        "--bootstrap",
        default=os.environ.get("AGENTFLOW_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="Kafka bootstrap servers (default $AGENTFLOW_BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
    )
    p.add_argument(
        "--host-kafka-options",
        type=json.loads,
        default={},
        metavar="JSON",
        help='extra librdkafka options for agentflow, e.g. \'{"fetch.queue.backoff.ms": "10"}\'',
    )
    p.add_argument(
        "--worker-env",
        type=json.loads,
        default={},
        metavar="JSON",
        help="extra settings for the agentflow worker of the pipeline, latency and scale suites, "
        'as AGENTFLOW_* variables, e.g. \'{"AGENTFLOW_COMMIT_MIN_GAP_MS": "50"}\'',
    )
    p.add_argument("--json", action="store_true", help="print the result JSON to stdout")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/*")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help=argparse.SUPPRESS)
    p.add_argument("--keep-topics", action="store_true", help="do not delete the bench topics")
    args = p.parse_args(argv)
    args.suite_set = {s.strip() for s in args.suites.split(",") if s.strip()}
    unknown = sorted(args.suite_set - set(SUITES))
    if unknown:
        p.error(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
    everything = set(PIPELINE_CONTENDERS) | set(CONTENDERS) | set(STEP_CONTENDERS)
    only = {c.strip() for c in args.only.split(",")} if args.only else everything
    args.only_set = only
    if only - everything:
        p.error(f"unknown contender(s) {sorted(only - everything)}")
    args.pipeline_contenders = tuple(c for c in PIPELINE_CONTENDERS if c in only)
    args.counter_contenders = tuple(c for c in CONTENDERS if c in only)
    if not valid_events_per_workflow(args.events_per_workflow):
        p.error("--events-per-workflow must be 5 + 3k (5, 8, 11, ...)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = args.worker_env
    bad = [k for k in env if not k.startswith("AGENTFLOW_")] if isinstance(env, dict) else env
    if bad or not isinstance(env, dict):
        message = f"--worker-env takes a JSON object of AGENTFLOW_* settings, not {bad}"
        print(message, file=sys.stderr)
        return 2
    preset = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    tag = f"bench-{started.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-"
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    t0 = time.monotonic()

    def progress(line: str) -> None:
        err.print(Text.assemble((f"{time.monotonic() - t0:6.1f}s ", "dim"), line))

    def pick(name: str) -> Any:
        value = getattr(args, name)
        return preset[name] if value is None else value

    load_before = os.getloadavg()
    progress(
        f"bench ({'quick' if args.quick else 'full'}): suites {', '.join(sorted(args.suite_set))}"
        f"; load average {load_before[0]:.2f}"
    )
    suites = args.suite_set
    pipeline_cfg = PipelineConfig(
        bootstrap=args.bootstrap,
        workflows=pick("workflows"),
        events_per_workflow=args.events_per_workflow,
        faust_workflows=pick("faust_workflows"),
        partitions=args.partitions,
        payload_bytes=args.payload_bytes,
        commit_interval_ms=args.commit_interval_ms,
        batch_size=args.batch_size,
        contenders=args.pipeline_contenders
        if "pipeline" in suites
        else tuple(c for c in ("agentflow",) if "latency" in suites),
        tag=tag,
        latency_seconds=pick("latency_seconds"),
        latency_load=args.latency_load,
        latency_rate=args.latency_rate,
        scale_live=pick("scale_live"),
        scale_touched=pick("scale_touched"),
        keep_topics=args.keep_topics,
        host_kafka_options={str(k): str(v) for k, v in args.host_kafka_options.items()},
        worker_env={str(k): str(v) for k, v in args.worker_env.items()},
    )
    pipeline = PipelineBench(pipeline_cfg, progress)
    counter_results: dict[str, Any] = {}
    steps_doc: dict[str, Any] | None = None
    counter_cfg = BenchConfig(
        bootstrap=args.bootstrap,
        records=pick("records"),
        faust_records=pick("faust_records"),
        keys=args.keys,
        partitions=args.partitions,
        value_size=args.value_size,
        commit_interval_ms=args.commit_interval_ms,
        batch_size=args.batch_size,
        contenders=args.counter_contenders,
        tag=tag + "counter-",
        quick=args.quick,
        keep_topics=args.keep_topics,
        host_kafka_options={str(k): str(v) for k, v in args.host_kafka_options.items()},
    )
    try:
        if suites & {"pipeline", "latency", "scale"}:
            pipeline.run(
                compare=bool(suites & {"pipeline", "latency"}),
                latency="latency" in suites,
                scale="scale" in suites,
            )
        if "counter" in suites and counter_cfg.contenders:
            progress(
                f"counter: {counter_cfg.records:,} records (faust {counter_cfg.faust_records:,})"
                f", contenders {', '.join(counter_cfg.contenders)}"
            )
            counter_results = Bench(counter_cfg, progress).run()
        if "steps" in suites:
            steps_cfg = StepsConfig(
                bootstrap=args.bootstrap,
                commands=pick("step_commands"),
                concurrency=args.step_concurrency,
                model_latency_s=args.model_latency_ms / 1000,
                partitions=args.partitions,
                commit_interval_ms=args.commit_interval_ms,
                batch_size=args.batch_size,
                contenders=tuple(c for c in STEP_CONTENDERS if c in args.only_set),
                tag=tag + "steps-",
            )
            steps_doc = StepsBench(steps_cfg, progress).run()
    except KeyboardInterrupt:
        progress("interrupted: reporting what was measured")
    load = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
    }
    doc = document(
        started=started,
        seconds=time.monotonic() - t0,
        mode="quick" if args.quick else "full",
        load=load,
        bootstrap=args.bootstrap,
        tag=tag,
        counter=counter_document(counter_cfg, counter_results) if counter_results else None,
        pipeline=pipeline.document() if pipeline.results else None,
        latency=pipeline.latency_document(),
        scale=pipeline.scale_document(),
        recovery=pipeline.recovery_document(),
        steps=steps_doc,
    )
    if not args.no_save:
        for path in save(doc, args.results_dir):
            progress(f"wrote {path}")
        try:
            from bench.plot import draw

            progress(f"wrote {draw(doc, args.results_dir / 'latest.png')}")
        except ImportError:
            progress("matplotlib is not installed: no latest.png (pip install matplotlib)")
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        print_table(doc)
    progress(f"done in {time.monotonic() - t0:.0f}s")
    outcomes = [c["outcome"] for part in ("pipeline", "counter", "steps") if doc.get(part)
                for c in doc[part]["contenders"].values()]  # fmt: skip
    outcomes += [s["outcome"] for s in (doc.get("scale") or {}).get("stages", [])]
    return 0 if all(o == "complete" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
