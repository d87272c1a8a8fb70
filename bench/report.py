"""The bench's JSON document, its result files and its rich table."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.runner import BenchConfig, ContenderResult

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def versions() -> dict[str, Any]:
    from confluent_kafka import libversion

    from agentflow.broker import KAFKA_VERSION

    def dist(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "kafka": KAFKA_VERSION,
        "confluent_kafka": dist("confluent-kafka"),
        "librdkafka": libversion()[0],
        "quixstreams": dist("quixstreams"),
        "faust_streaming": dist("faust-streaming"),
        "rocksdict": dist("rocksdict"),
        "agentflow": dist("agentflow"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def _ratio(a: ContenderResult | None, b: ContenderResult | None) -> float | None:
    if a is None or b is None or not b.summary.events_per_s:
        return None
    return round(a.summary.events_per_s / b.summary.events_per_s, 3)


def document(
    config: BenchConfig,
    results: dict[str, ContenderResult],
    started: datetime,
    seconds: float,
    load: dict[str, Any],
) -> dict[str, Any]:
    host = results.get("host")
    return {
        "started_utc": started.isoformat(timespec="seconds"),
        "bench_seconds": round(seconds, 1),
        "mode": "quick" if config.quick else "full",
        "settings": {
            "records": config.records,
            "faust_records": config.faust_records,
            "keys": config.keys,
            "partitions": config.partitions,
            "value_size": config.value_size,
            "commit_interval_ms": config.commit_interval_ms,
            "batch_size": config.batch_size,
            "input_acks": "all",
            "input_partitioner": "murmur2_random",
            "output_timestamps": "LogAppendTime",
            "guarantee": {name: r.guarantee for name, r in results.items()},
            "host_kafka_options": config.host_kafka_options,
            "bootstrap_servers": config.bootstrap,
            "topic_tag": config.tag,
        },
        "versions": versions(),
        "load_average": load,
        "contenders": {name: r.as_dict() for name, r in results.items()},
        "ratios": {
            "host_over_limit": _ratio(host, results.get("limit")),
            "host_over_quix": _ratio(host, results.get("quix")),
            "host_over_faust": _ratio(host, results.get("faust")),
        },
        "method": (
            "Each contender reads its own copy of the same input (4 partitions) and writes one "
            "output per input to a LogAppendTime topic; events/s = outputs / (last output "
            "LogAppendTime - first output LogAppendTime), read with read_committed. Contenders "
            "run one at a time as subprocesses; start-up and input production are excluded. "
            "events_per_cpu_s: output offsets per CPU second of the contender process while "
            "its output grew (sampled every 0.25 s; less sensitive to other load on the machine)."
        ),
    }


def save(doc: dict[str, Any], results_dir: Path = RESULTS_DIR) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    paths = [results_dir / "latest.json", results_dir / f"{stamp}.json"]
    for path in paths:
        path.write_text(text)
    return paths


def table(doc: dict[str, Any]) -> Table:
    s = doc["settings"]
    t = Table(
        title=(
            f"agentflow bench ({doc['mode']}): {s['records']:,} records "
            f"(faust {s['faust_records']:,}), {s['keys']:,} keys, {s['partitions']} partitions, "
            f"{s['value_size']} B values, commit {s['commit_interval_ms']} ms"
        )
    )
    t.add_column("contender")
    t.add_column("events/s", justify="right")
    t.add_column("records", justify="right")
    t.add_column("seconds", justify="right")
    t.add_column("events/CPU-s", justify="right")
    t.add_column("guarantee")
    t.add_column("state")
    t.add_column("counts ok")
    t.add_column("outcome")
    for name, c in doc["contenders"].items():
        ok = {True: "yes", False: "NO", None: "-"}[c["counts_correct"]]
        t.add_row(
            name,
            f"{c['events_per_s']:,.0f}",
            f"{c['records']:,}/{c['expected']:,}",
            f"{c['seconds']:.2f}",
            f"{c['events_per_cpu_s']:,.0f}" if c["events_per_cpu_s"] else "-",
            c["guarantee"],
            c["state"] or "-",
            ok,
            c["outcome"],
        )
    ratios = ", ".join(
        f"{k} = {v:.2f}" if v is not None else f"{k} = n/a" for k, v in doc["ratios"].items()
    )
    t.caption = ratios
    return t


def print_table(doc: dict[str, Any], console: Console | None = None) -> None:
    (console or Console(file=sys.stdout, width=140)).print(table(doc))
