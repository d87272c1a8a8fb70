"""``python -m bench.cpu_pipeline``: the pipeline's CPU cost per event, without a broker.

Runs the worker's default processor (gate + orchestrator) over the pipeline bench's signed
events (:mod:`bench.workload`) through the same :class:`~streams.runtime.PartitionTask` the
host runs, with real RocksDB stores, in checkpoints of ``--batch`` records per partition: each
checkpoint encodes its dirty keys once and flushes them, as a commit would. Kafka I/O is left
out, so the figure is the processing cost alone: the ceiling the host can reach on one core.

``--profile`` prints cProfile's costliest functions (self time) as well.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.preload import pipeline as workflow_pipeline
from bench.workload import Event, Workload
from processors.contract import Record
from processors.deployment import Deployment
from processors.partitioning import partition_for
from processors.roles import INGRESS_ROLE
from streams.collector import tune_collector
from streams.runtime import PartitionTask
from streams.settings import HostSettings
from streams.state_cache import StateCache
from streams.tables import PartitionState, TableStore


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.cpu_pipeline", description=__doc__)
    p.add_argument("--workflows", type=int, default=2000, help="N workflows (x M events)")
    p.add_argument("--events", type=int, default=8, help="M events per workflow (5 + 3k)")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--batch", type=int, default=500, help="records per partition checkpoint")
    p.add_argument("--profile", action="store_true", help="also print cProfile's top costs")
    p.add_argument("--top", type=int, default=30, help="rows of the profile")
    return p.parse_args(argv)


def _tasks(data_dir: Path, partitions: int) -> list[PartitionTask]:
    proc = workflow_pipeline()
    deployment = Deployment.create("bench", partitions, {})
    tasks = []
    for partition in range(partitions):
        stores = {
            t.name: TableStore(data_dir / t.name / f"p{partition}", t.name, t.codec, t.name)
            for t in proc.tables
        }
        tasks.append(
            PartitionTask(
                partition,
                [proc],
                PartitionState(partition, stores, StateCache(HostSettings().state_cache_bytes)),
                deployment,
            )
        )
    return tasks


def run(events: list[Event], tasks: list[PartitionTask], batch: int, now_ms: int) -> int:
    """Process every event; returns how many emits were produced."""
    by_partition: dict[int, list[Record]] = defaultdict(list)
    for offset, e in enumerate(events):
        p = partition_for(e.key, len(tasks))
        by_partition[p].append(
            Record(INGRESS_ROLE, p, offset, e.key, e.value, tuple(e.headers), now_ms)
        )
    emitted = 0
    for p, records in by_partition.items():
        task = tasks[p]
        for start in range(0, len(records), batch):
            for record in records[start : start + batch]:
                emitted += len(task.process(record, now_ms))
            task.state.flush(task.state.freeze())
    return emitted


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workload = Workload("cpu")
    events = list(workload.lifecycles(0, args.workflows, args.events))
    now_ms = workload.now_ms or int(time.time() * 1000)
    with tempfile.TemporaryDirectory(prefix="agentflow-cpu-") as tmp:
        tasks = _tasks(Path(tmp), args.partitions)
        tune_collector(HostSettings().gc_threshold)  # as the worker does
        profiler = cProfile.Profile() if args.profile else None
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        emitted = run(events, tasks, args.batch, now_ms)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        for task in tasks:
            task.state.close()
    n = len(events)
    # CPU time, not wall time: the figure should not move when other work shares the machine.
    print(
        f"{n:,} events, {emitted:,} emits in {elapsed:.2f}s ({cpu:.2f} CPU-s): "
        f"{cpu / n * 1e6:.0f} us of CPU per event, {n / cpu:,.0f} events per CPU-second"
        + (" (under cProfile)" if profiler else "")
    )
    if profiler:
        print_profile(profiler, args.top)


def print_profile(profiler: cProfile.Profile, top: int) -> None:
    """cProfile's ``top`` costliest functions by self time."""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
