"""``python -m bench.cpu_observability``: what metrics and traces cost per event, without a
broker.

Runs the worker's default processor over the pipeline bench's events as
:mod:`bench.cpu_pipeline` does, four ways, interleaved over ``--rounds``:

- ``plain``: the processing alone;
- ``metrics``: plus the host's commit tally and the Prometheus observer at every checkpoint
  (what a worker with ``--metrics-port`` does; the counting is the same at any scrape rate);
- ``traces 1%``: plus tracing, 1% of the events carrying a sampled ``traceparent`` and the
  rest an unsampled one (the worst case for the unsampled path: a header to parse);
- ``traces 100%``: every event sampled.

Spans are encoded to OTLP protobuf, as the exporter would post them, and dropped: the figure
includes the span processor's thread and the encoding, not the HTTP request. CPU time of the
whole process, not wall time, so other work on the machine does not move it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from bench.cpu_pipeline import _tasks
from bench.workload import Event, Workload
from processors.contract import Record
from processors.engine.span_facts import span_facts
from processors.partitioning import partition_for
from processors.roles import INGRESS_ROLE
from streams.metrics import MetricsObserver
from streams.observer import CommitTally
from streams.runtime import PartitionTask
from streams.tracing import TRACEPARENT, Tracing, process_traced

SAMPLED = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
UNSAMPLED = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
MODES = ("plain", "metrics", "traces 1%", "traces 100%")


class EncodingExporter(SpanExporter):
    """Encodes each batch as the OTLP/HTTP exporter would, then drops it."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializePartialToString()
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _records(
    events: list[Event], partitions: int, sampled: float, now_ms: int
) -> dict[int, list[Record]]:
    rng = random.Random(7)
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for offset, e in enumerate(events):
        p = partition_for(e.key, partitions)
        headers = tuple(e.headers)
        if sampled > 0:
            headers += ((TRACEPARENT, SAMPLED if rng.random() < sampled else UNSAMPLED),)
        by_partition[p].append(Record(INGRESS_ROLE, p, offset, e.key, e.value, headers, now_ms))
    return by_partition


def run_mode(mode: str, events: list[Event], data_dir: Path, partitions: int, batch: int,
             now_ms: int) -> tuple[float, int]:  # fmt: skip
    """CPU seconds for ``events`` in ``mode``, and the spans exported."""
    sampled = {"traces 1%": 0.01, "traces 100%": 1.0}.get(mode, 0.0)
    by_partition = _records(events, partitions, sampled, now_ms)
    tasks = _tasks(data_dir, partitions)
    exporter = EncodingExporter()
    tracing = Tracing.exporting(exporter, "bench") if sampled else None
    observer = MetricsObserver(CollectorRegistry()) if mode == "metrics" else None
    tally = CommitTally()
    started = time.process_time()
    for p, records in by_partition.items():
        task: PartitionTask = tasks[p]
        for start in range(0, len(records), batch):
            for record in records[start : start + batch]:
                if tracing is not None:
                    emits = process_traced(tracing, span_facts, task, record, "ingress", now_ms)
                else:
                    emits = task.process(record, now_ms)
                if observer is not None:
                    tally.records += 1
                    for emit in emits:
                        tally.emit(emit.role, emit.tag)
            task.state.flush(task.state.freeze())
            if observer is not None:
                observer.on_commit(tally.report(0.01, 0, 1))
                tally.reset()
    if tracing is not None:
        tracing.shutdown()  # the last batches are encoded inside the measurement
    cpu = time.process_time() - started
    for task in tasks:
        task.state.close()
    return cpu, exporter.spans


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.cpu_observability", description=__doc__)
    p.add_argument("--workflows", type=int, default=1000, help="N workflows (x M events)")
    p.add_argument("--events", type=int, default=8, help="M events per workflow")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--batch", type=int, default=500, help="records per partition checkpoint")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    args = p.parse_args(argv)
    workload = Workload("obs")
    events = list(workload.lifecycles(0, args.workflows, args.events))
    now_ms = workload.now_ms or int(time.time() * 1000)
    per_event: dict[str, list[float]] = defaultdict(list)
    spans: dict[str, int] = {}
    for round_ in range(args.rounds + 1):  # the first round warms caches and imports: dropped
        for mode in MODES:
            with tempfile.TemporaryDirectory(prefix="agentflow-obs-") as tmp:
                cpu, spans[mode] = run_mode(mode, events, Path(tmp), args.partitions,
                                            args.batch, now_ms)  # fmt: skip
            if round_:
                per_event[mode].append(cpu / len(events) * 1e6)
    base = statistics.median(per_event["plain"])
    print(f"{len(events):,} events, medians of {args.rounds} interleaved rounds (CPU per event):")
    for mode in MODES:
        us = statistics.median(per_event[mode])
        print(f"  {mode:<12} {us:7.1f} us  ({us - base:+6.1f} us, {(us / base - 1) * 100:+5.1f}%)"
              f"  {spans[mode]:,} spans")  # fmt: skip


if __name__ == "__main__":
    main()
