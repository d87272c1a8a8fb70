"""``python -m bench.cpu_replay``: a replay's CPU cost per event, without a broker.

Runs the worker's pipeline (gate + orchestrator) over the pipeline bench's signed events, as
:mod:`bench.cpu_pipeline` does, keeping what it wrote to workflow-events. Then feeds those
records to a :class:`~replay.shadow.ShadowRun` of the orchestrator (what ``agentflow replay``
does after reading them) and compares the two costs per event. Kafka I/O, the audit read and
the diff are left out: the figure is the processing a replay adds per event.

``--profile`` prints cProfile's costliest functions of the replay (self time) as well.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from pathlib import Path

from bench.cpu_pipeline import _tasks, print_profile
from bench.workload import Workload
from examples.workflows import example_registry
from processors.contract import Record
from processors.deployment import Deployment
from processors.engine import OrchestratorProcessor
from processors.partitioning import partition_for
from processors.roles import EVENTS_ROLE, INGRESS_ROLE
from replay.shadow import ShadowRun


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.cpu_replay", description=__doc__)
    p.add_argument("--workflows", type=int, default=2000, help="N workflows (x M events)")
    p.add_argument("--events", type=int, default=8, help="M events per workflow (5 + 3k)")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--profile", action="store_true", help="also print cProfile's top costs")
    p.add_argument("--top", type=int, default=30, help="rows of the profile")
    return p.parse_args(argv)


def live_history(args: argparse.Namespace, data_dir: Path) -> tuple[list[Record], float]:
    """The workflow-events records the live pipeline writes, and its CPU-s per event."""
    workload = Workload("cpu")
    events = list(workload.lifecycles(0, args.workflows, args.events))
    now_ms = workload.now_ms or int(time.time() * 1000)
    tasks = _tasks(data_dir, args.partitions)
    history: list[Record] = []
    cpu = time.process_time()
    for offset, e in enumerate(events):
        p = partition_for(e.key, len(tasks))
        record = Record(INGRESS_ROLE, p, offset, e.key, e.value, tuple(e.headers), now_ms)
        for emit in tasks[p].process(record, now_ms):
            if emit.role == EVENTS_ROLE:
                history.append(Record(EVENTS_ROLE, p, len(history), emit.key, emit.value,
                                      tuple(emit.headers), now_ms))  # fmt: skip
        if offset % 500 == 499:
            for task in tasks:
                task.state.flush(task.state.freeze())
    per_event = (time.process_time() - cpu) / len(events)
    for task in tasks:
        task.state.close()
    return history, per_event


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="agentflow-cpu-") as tmp:
        history, live = live_history(args, Path(tmp) / "live")
        deployment = Deployment.create("bench", args.partitions, {})
        orchestrator = OrchestratorProcessor(example_registry())
        profiler = cProfile.Profile() if args.profile else None
        with ShadowRun([orchestrator], deployment, Path(tmp) / "shadow") as shadow:
            cpu = time.process_time()
            if profiler:
                profiler.enable()
            for record in history:
                shadow.feed(record)
            if profiler:
                profiler.disable()
            replay = (time.process_time() - cpu) / len(history)
    print(
        f"{len(history):,} events: live pipeline {live * 1e6:.0f} us of CPU per event, "
        f"replay {replay * 1e6:.0f} us ({live / replay:.2f}x)"
        + (" (replay under cProfile)" if profiler else "")
    )
    if profiler:
        print_profile(profiler, args.top)


if __name__ == "__main__":
    main()
