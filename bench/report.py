"""The bench's JSON document, its result files, its tables and the targets it is judged by."""

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

COUNTER_METHOD = (
    "Each contender reads its own copy of the same input (4 partitions) and writes one "
    "output per input to a LogAppendTime topic; events/s = outputs / (last output "
    "LogAppendTime - first output LogAppendTime), read with read_committed. Contenders "
    "run one at a time as subprocesses; start-up and input production are excluded. "
    "events_per_cpu_s: output offsets per CPU second of the contender process while "
    "its output grew (sampled every 0.25 s; less sensitive to other load on the machine)."
)
PIPELINE_METHOD = (
    "The same signed Avro events (N workflows x M events, round by round) are produced "
    "(acks=all, murmur2) to each contender's own input topic; contenders run one at a time "
    "as subprocesses. agentflow is `agentflow worker` (gate + orchestrator, exactly-once); "
    "its rate is counted on the audit topic (one record per decision, LogAppendTime), the "
    "peers' on their output topic. events/s and events/CPU-s as for the counter."
)


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
        "fastavro": dist("fastavro"),
        "pydantic": dist("pydantic"),
        "agentflow": dist("agentflow"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def _rate(contenders: dict[str, Any], name: str) -> float | None:
    c = contenders.get(name)
    return c["events_per_s"] if c and c.get("events_per_s") else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def counter_document(config: BenchConfig, results: dict[str, ContenderResult]) -> dict[str, Any]:
    return {
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
        },
        "contenders": {name: r.as_dict() for name, r in results.items()},
        "method": COUNTER_METHOD,
    }


def ratios(doc: dict[str, Any]) -> dict[str, float | None]:
    counter = (doc.get("counter") or {}).get("contenders", {})
    pipeline = (doc.get("pipeline") or {}).get("contenders", {})
    out = {
        "agentflow_over_limit": _ratio(_rate(pipeline, "agentflow"), _rate(pipeline, "limit")),
        "agentflow_over_quix": _ratio(_rate(pipeline, "agentflow"), _rate(pipeline, "quix")),
        "agentflow_over_faust": _ratio(_rate(pipeline, "agentflow"), _rate(pipeline, "faust")),
        "host_over_limit": _ratio(_rate(counter, "host"), _rate(counter, "limit")),
        "host_over_quix": _ratio(_rate(counter, "host"), _rate(counter, "quix")),
        "host_over_faust": _ratio(_rate(counter, "host"), _rate(counter, "faust")),
        "replay_over_pipeline": _ratio(
            ((pipeline.get("agentflow") or {}).get("replay") or {}).get("events_per_s"),
            _rate(pipeline, "agentflow"),
        ),
    }
    stages = [s for s in (doc.get("scale") or {}).get("stages", []) if s.get("events_per_s")]
    if len(stages) >= 2:
        small, large = stages[0], stages[-1]
        out["scale_largest_over_smallest"] = _ratio(large["events_per_s"], small["events_per_s"])
        out["scale_largest_over_smallest_per_cpu_s"] = _ratio(
            large["events_per_cpu_s"], small["events_per_cpu_s"]
        )
    return out


def targets(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    r = doc.get("ratios", {})
    lat = doc.get("latency") or {}
    stages = [s for s in (doc.get("scale") or {}).get("stages", []) if s.get("events_per_s")]
    rec = [s for s in (doc.get("recovery") or {}).get("stages", []) if s.get("restored_records")]
    steps = doc.get("steps") or {}
    steps_ours = (steps.get("contenders") or {}).get("agentflow") or {}
    steps_two = (steps.get("contenders") or {}).get("agentflow-2p") or {}
    largest = stages[-1] if stages else {}
    sizes = f"{stages[-1]['live_workflows']:,} vs {stages[0]['live_workflows']:,}" if stages else ""
    rows: list[tuple[str, str, float | None, str, float]] = [
        ("agentflow_over_quix", "agentflow / quix", r.get("agentflow_over_quix"), ">=", 1.0),
        ("agentflow_over_faust", "agentflow / faust", r.get("agentflow_over_faust"), ">=", 10),
        ("agentflow_over_limit", "agentflow / limit", r.get("agentflow_over_limit"), ">=", 0.2),
        ("latency_p99_ms", "p99 latency at 50% load (ms)", lat.get("p99_ms"), "<=", 50),
        (
            "scale_ratio",
            f"events/s at {sizes} live workflows",
            r.get("scale_largest_over_smallest"),
            ">=",
            0.7,
        ),
        (
            "peak_rss_mb",
            f"peak RSS at {largest.get('live_workflows', 0):,} live workflows (MiB)",
            largest.get("peak_rss_mb"),
            "<=",
            400,
        ),
        (
            "restore_records_per_s",
            f"restore at {rec[-1]['live_workflows']:,} workflows (records/s)" if rec else "restore",
            rec[-1]["restore_records_per_s"] if rec else None,
            ">=",
            100_000,
        ),
        ("replay_over_pipeline", "replay dry run / live pipeline (events/s)",
         r.get("replay_over_pipeline"), ">=", 1.5),
        ("steps_of_ideal", "steps/s over concurrency / model latency",
         steps_ours.get("of_ideal"), ">=", 0.8),
        ("steps_of_ideal_2_processes", "the same, two runner processes in one group",
         steps_two.get("of_ideal"), ">=", 0.8),
        ("steps_over_faust", "step runner / faust agent", steps.get("agentflow_vs_faust"),
         ">=", 1.0),
    ]  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for key, label, value, op, goal in rows:
        met = None if value is None else (value >= goal if op == ">=" else value <= goal)
        out[key] = {"what": label, "value": value, "target": f"{op} {goal}", "met": met}
    return out


def document(
    *,
    started: datetime,
    seconds: float,
    mode: str,
    load: dict[str, Any],
    bootstrap: str,
    tag: str,
    counter: dict[str, Any] | None,
    pipeline: dict[str, Any] | None,
    latency: dict[str, Any] | None,
    scale: dict[str, Any] | None,
    recovery: dict[str, Any] | None,
    steps: dict[str, Any] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "started_utc": started.isoformat(timespec="seconds"),
        "bench_seconds": round(seconds, 1),
        "mode": mode,
        "bootstrap_servers": bootstrap,
        "topic_tag": tag,
        "versions": versions(),
        "load_average": load,
        "counter": counter,
        "pipeline": pipeline,
        "latency": latency,
        "scale": scale,
        "recovery": recovery,
        "steps": steps,
    }
    if pipeline is not None:
        pipeline["method"] = PIPELINE_METHOD
    doc["ratios"] = ratios(doc)
    doc["targets"] = targets(doc)
    return doc


def save(doc: dict[str, Any], results_dir: Path = RESULTS_DIR) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    paths = [results_dir / "latest.json", results_dir / f"{stamp}.json"]
    for path in paths:
        path.write_text(text)
    return paths


# -- tables ---------------------------------------------------------------------------------
def _n(v: float | None, fmt: str = ",.0f") -> str:
    return "-" if v is None else format(v, fmt)


def _contender_table(title: str, contenders: dict[str, Any], caption: str) -> Table:
    t = Table(title=title, caption=caption)
    for col, justify in (
        ("contender", "left"),
        ("events/s", "right"),
        ("records", "right"),
        ("seconds", "right"),
        ("events/CPU-s", "right"),
        ("guarantee", "left"),
        ("state", "left"),
        ("correct", "left"),
        ("outcome", "left"),
    ):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, c in contenders.items():
        ok = {True: "yes", False: "NO", None: "-"}[c["counts_correct"]]
        t.add_row(
            name,
            _n(c["events_per_s"]),
            f"{c['records']:,}/{c['expected']:,}",
            f"{c['seconds']:.2f}",
            _n(c["events_per_cpu_s"]),
            c["guarantee"],
            c["state"] or "-",
            ok,
            c["outcome"],
        )
    return t


def tables(doc: dict[str, Any]) -> list[Table]:
    out: list[Table] = []
    la = doc["load_average"]
    load = f"load average {la['before'][0]:.2f} before, {la['after'][0]:.2f} after"
    r = doc["ratios"]

    def ratio(key: str) -> str:
        v = r.get(key)
        return f"{key} = {v:.3f}" if v is not None else f"{key} = n/a"

    if doc.get("pipeline"):
        p = doc["pipeline"]
        s = p["settings"]
        out.append(
            _contender_table(
                f"agentflow pipeline ({doc['mode']}): {s['workflows']:,} workflows x "
                f"{s['events_per_workflow']} events (faust {s['faust_workflows']:,}), "
                f"{s['partitions']} partitions, ~{s.get('value_bytes', 0):.0f} B values, "
                f"commit {s['commit_interval_ms']} ms",
                p["contenders"],
                ", ".join(ratio(k) for k in ("agentflow_over_limit", "agentflow_over_quix",
                                             "agentflow_over_faust")) + f"; {load}",
            )
        )  # fmt: skip
    if doc.get("counter"):
        c = doc["counter"]
        s = c["settings"]
        out.append(
            _contender_table(
                f"stream host counter ({doc['mode']}): {s['records']:,} records "
                f"(faust {s['faust_records']:,}), {s['keys']:,} keys, {s['partitions']} "
                f"partitions, {s['value_size']} B values, commit {s['commit_interval_ms']} ms",
                c["contenders"],
                ", ".join(ratio(k) for k in ("host_over_limit", "host_over_quix",
                                             "host_over_faust")),
            )
        )  # fmt: skip
    if doc.get("scale"):
        rec = {s["live_workflows"]: s for s in (doc.get("recovery") or {}).get("stages", [])}
        t = Table(title="agentflow as live workflows grow, and cold-start recovery")
        for col in (
            "live workflows",
            "events/s",
            "events/CPU-s",
            "cycles/workflow",
            "peak RSS MiB",
            "restored records",
            "restore records/s",
            "first event s",
            "outcome",
        ):
            t.add_column(col, justify="left" if col == "outcome" else "right")
        for s in doc["scale"]["stages"]:
            rv = rec.get(s["live_workflows"], {})
            t.add_row(
                f"{s['live_workflows']:,}",
                _n(s["events_per_s"]),
                _n(s["events_per_cpu_s"]),
                f"{s['cycles_per_touched_workflow']:.1f}",
                _n(s["peak_rss_mb"]),
                _n(rv.get("restored_records")),
                _n(rv.get("restore_records_per_s")),
                _n(rv.get("first_event_seconds"), ".1f"),
                s["outcome"],
            )
        out.append(t)
    if doc.get("latency"):
        lat = doc["latency"]
        t = Table(
            title=(
                f"agentflow end-to-end latency at {lat['offered_events_per_s']:,.0f} events/s "
                f"({lat['load_fraction'] or 0:.0%} of its maximum), ingress produce -> audit "
                "record visible (read_committed)"
            )
        )
        for col in ("events", "seen", "p50 ms", "p90 ms", "p99 ms", "max ms"):
            t.add_column(col, justify="right")
        t.add_row(
            f"{lat['events']:,}",
            f"{lat['received']:,}",
            _n(lat["p50_ms"], ".1f"),
            _n(lat["p90_ms"], ".1f"),
            _n(lat["p99_ms"], ".1f"),
            _n(lat["max_ms"], ".1f"),
        )
        out.append(t)
    t = Table(title="targets")
    for col in ("target", "measured", "goal", "met"):
        t.add_column(col, justify="left" if col == "target" else "right")
    for tg in doc["targets"].values():
        v = tg["value"]
        t.add_row(
            tg["what"],
            "-" if v is None else (f"{v:,.3f}" if v < 100 else f"{v:,.0f}"),
            tg["target"],
            {True: "yes", False: "NO", None: "-"}[tg["met"]],
        )
    out.append(t)
    return out


def print_table(doc: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(file=sys.stdout, width=160)
    for t in tables(doc):
        console.print(t)
    if doc.get("steps"):
        from bench.steps import result_line

        console.print(result_line(doc["steps"]))
