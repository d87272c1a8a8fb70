"""``python -m bench``: run the throughput bench and write ``bench/results/latest.json``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

from bench.report import RESULTS_DIR, document, print_table, save
from bench.runner import CONTENDERS, Bench, BenchConfig

FULL = {"records": 200_000, "faust_records": 30_000}
QUICK = {"records": 30_000, "faust_records": 5_000}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Compare the agentflow stream host (exactly-once per-key counter) with a raw "
            "confluent-kafka passthrough (the limit), Quix Streams and faust on the same input."
        ),
    )
    p.add_argument("--quick", action="store_true", help="30k records (faust 5k) instead of 200k")
    p.add_argument("--records", type=int, help="input records per contender (default 200k)")
    p.add_argument("--faust-records", type=int, help="records for faust (default 30k; it is slow)")
    p.add_argument("--keys", type=int, default=1000, help="distinct keys (default 1000)")
    p.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    p.add_argument("--value-size", type=int, default=600, help="value bytes (default 600)")
    p.add_argument(
        "--commit-interval-ms", type=int, default=100, help="every contender (default 100)"
    )
    p.add_argument("--batch-size", type=int, default=2000, help="consume batch (default 2000)")
    p.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help=f"comma-separated contenders to run (default {','.join(CONTENDERS)})",
    )
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
        help='extra librdkafka options for the host, e.g. \'{"fetch.queue.backoff.ms": "10"}\'',
    )
    p.add_argument("--json", action="store_true", help="print the result JSON to stdout")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help=argparse.SUPPRESS)
    p.add_argument("--keep-topics", action="store_true", help="do not delete the bench topics")
    args = p.parse_args(argv)
    contenders = tuple(c.strip() for c in args.only.split(",") if c.strip())
    unknown = sorted(set(contenders) - set(CONTENDERS))
    if unknown:
        p.error(f"unknown contender(s) {unknown}; choose from {', '.join(CONTENDERS)}")
    args.contenders = contenders
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    config = BenchConfig(
        bootstrap=args.bootstrap,
        records=args.records or preset["records"],
        faust_records=args.faust_records or preset["faust_records"],
        keys=args.keys,
        partitions=args.partitions,
        value_size=args.value_size,
        commit_interval_ms=args.commit_interval_ms,
        batch_size=args.batch_size,
        contenders=args.contenders,
        tag=f"bench-{started.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-",
        quick=args.quick,
        keep_topics=args.keep_topics,
        host_kafka_options={str(k): str(v) for k, v in args.host_kafka_options.items()},
    )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    t0 = time.monotonic()

    def progress(line: str) -> None:
        err.print(Text.assemble((f"{time.monotonic() - t0:6.1f}s ", "dim"), line))

    load_before = os.getloadavg()
    progress(
        f"bench ({'quick' if args.quick else 'full'}): {config.records:,} records "
        f"(faust {config.faust_records:,}), contenders {', '.join(config.contenders)}; "
        f"load average {load_before[0]:.2f}"
    )
    results = Bench(config, progress).run()
    load = {"before": [round(x, 2) for x in load_before]}
    load["after"] = [round(x, 2) for x in os.getloadavg()]
    doc = document(config, results, started, time.monotonic() - t0, load)
    if not args.no_save:
        for path in save(doc, args.results_dir):
            progress(f"wrote {path}")
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        print_table(doc)
    progress(f"done in {time.monotonic() - t0:.0f}s")
    complete = all(r.outcome == "complete" for r in results.values())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
