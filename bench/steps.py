"""The steps suite: step commands whose model answers after a fixed delay, at a concurrency.

2,000 commands (full; quick: 500), each one model step on the bench's OpenAI-protocol server,
which answers after 200 ms; 100 steps at a time. The ideal is concurrency / latency = 500
steps/s. Contenders:

- ``agentflow``: ``agentflow steps run`` (exactly once: results, ledger and offsets in one
  transaction per commit interval);
- ``agentflow-2p``: two runner processes in one group, 50 steps at a time each: how a user
  scales past one process's CPU (a model step costs milliseconds of CPU in pydantic-ai and
  the OpenAI SDK, so one process cannot reach the ideal);
- ``faust``: a faust-streaming agent with ``concurrency=100`` running the same step through
  the same executor (at least once), :mod:`bench.faust_steps_app`.

The rate is measured from the answers' broker timestamps: (answers - 1) / (last - first), so
process start-up is not counted against either contender.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bench.apps import AppEnv
from bench.kafka import create_topics
from bench.procs import ROOT, delete_topics_quietly, start_process, stop_process, tail
from bench.steps_flows import command

Progress = Callable[[str], None]
CONTENDERS = ("agentflow", "agentflow-2p", "faust")
#: Runner processes per contender (one consumer group; the concurrency is split between them).
PROCESSES = {"agentflow-2p": 2}
RUNNER_CMD = ("-m", "agentflow.cli.main", "steps", "run", "--log-level", "WARNING")


@dataclass(frozen=True)
class StepsConfig:
    bootstrap: str
    commands: int = 2000
    concurrency: int = 100
    model_latency_s: float = 0.2
    partitions: int = 4
    commit_interval_ms: int = 100
    batch_size: int = 2000
    contenders: tuple[str, ...] = CONTENDERS
    tag: str = "bench-steps-"
    timeout_s: float = 180.0

    @property
    def ideal_steps_per_s(self) -> float:
        return self.concurrency / self.model_latency_s


class StepsBench:
    """Runs each contender on its own topics and the same scripted model server."""

    def __init__(self, cfg: StepsConfig, progress: Progress) -> None:
        self.cfg = cfg
        self.progress = progress
        self.results: dict[str, dict[str, Any]] = {}

    def run(self) -> dict[str, Any]:
        for name in self.cfg.contenders:
            self.progress(
                f"steps: {name}, {self.cfg.commands:,} commands, concurrency "
                f"{self.cfg.concurrency}, model {self.cfg.model_latency_s * 1000:.0f} ms"
            )
            try:
                self.results[name] = self._run_one(name)
            finally:
                delete_topics_quietly(self.cfg.bootstrap, f"{self.cfg.tag}{name}.", self.progress)
            r = self.results[name]
            self.progress(
                f"steps: {name}: {r.get('steps_per_s', 0):,.0f} steps/s "
                f"({r.get('of_ideal', 0):.2f} of ideal), {r['outcome']}"
            )
        return self.document()

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "commands": self.cfg.commands,
            "concurrency": self.cfg.concurrency,
            "model_latency_ms": int(self.cfg.model_latency_s * 1000),
            "ideal_steps_per_s": self.cfg.ideal_steps_per_s,
            "contenders": self.results,
        }
        ours = self.results.get("agentflow", {}).get("steps_per_s")
        faust = self.results.get("faust", {}).get("steps_per_s")
        if ours and faust:
            doc["agentflow_vs_faust"] = round(ours / faust, 2)
        return doc

    def _run_one(self, name: str) -> dict[str, Any]:
        cfg = self.cfg
        prefix = f"{cfg.tag}{name}."
        # The catalog's names under the run's prefix (what ``agentflow steps run`` reads).
        steps, ingress = f"{prefix}agentflow.steps", f"{prefix}agentflow.ingress"
        usage = f"{prefix}agentflow.tenant-usage"  # the runners' daily budgets read it
        topics = [steps, ingress, f"{prefix}agentflow.quarantine", usage]
        create_topics(cfg.bootstrap, topics, cfg.partitions)
        create_topics(
            cfg.bootstrap,
            [f"{prefix}bench.step_ledger.changelog"],
            cfg.partitions,
            {"cleanup.policy": "compact"},
        )
        self._produce(steps)
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-steps-{name}-"))
        # The model server runs in a process of its own: in the bench's it shared one GIL
        # with the answers' reader and capped every contender at ~150 steps/s.
        port = _free_port()
        model_cmd = [
            sys.executable, "-m", "agentflow.testing.fake_openai", "--port", str(port),
            "--delay", str(cfg.model_latency_s), "--count", str(cfg.commands * 2),
            "--output", json.dumps({"outcome": "answered", "summary": "on its way"}),
        ]  # fmt: skip
        model = start_process(model_cmd, {}, workdir / "model.txt")
        try:
            url = f"http://127.0.0.1:{port}/v1"
            count = PROCESSES.get(name, 1)
            procs = [
                start_process(*self._command(name, prefix, url, workdir, i, count))
                for i in range(count)
            ]
            try:
                stamps = self._answers(ingress, procs)
                for proc in procs:
                    if proc.poll() is not None:  # its CPU time is gone with it
                        raise RuntimeError(
                            f"{name}: a runner exited early (code {proc.returncode}); its log "
                            f"is in {workdir}"
                        )
                cpu_s = sum(_cpu_seconds(p.pid) for p in procs)
            finally:
                for proc in procs:
                    stop_process(proc)
        finally:
            stop_process(model)
        if len(stamps) < cfg.commands:
            return {
                "outcome": f"incomplete: {len(stamps)}/{cfg.commands} answers",
                "log": tail(min(workdir.glob("log*.txt"))),
            }
        span_s = (max(stamps) - min(stamps)) / 1000
        rate = (len(stamps) - 1) / span_s if span_s > 0 else 0.0
        return {
            "outcome": "complete",
            "answers": len(stamps),
            "span_s": round(span_s, 2),
            "steps_per_s": round(rate, 1),
            "of_ideal": round(rate / cfg.ideal_steps_per_s, 3),
            # The contender's CPU (start-up included) per step: what caps the rate on a small
            # machine, since at a concurrency of 100 the model's latency is hidden.
            "cpu_ms_per_step": round(cpu_s * 1000 / len(stamps), 2),
        }

    def _command(
        self, name: str, prefix: str, model_url: str, workdir: Path, index: int = 0, of: int = 1
    ) -> tuple[list[str], dict[str, str], Path]:
        cfg = self.cfg
        log = workdir / ("log.txt" if of == 1 else f"log-{index}.txt")
        if name.startswith("agentflow"):
            concurrency = str(cfg.concurrency // of)
            environ = {
                "AGENTFLOW_BOOTSTRAP_SERVERS": cfg.bootstrap,
                "AGENTFLOW_APP_ID": "bench",
                "AGENTFLOW_TOPIC_PREFIX": prefix,
                "AGENTFLOW_WORKER_ID": f"bench-{index}",
                "AGENTFLOW_DATA_DIR": str(workdir / f"data-{index}"),
                "AGENTFLOW_COMMIT_INTERVAL_MS": str(cfg.commit_interval_ms),
                "AGENTFLOW_BATCH_SIZE": str(cfg.batch_size),
                "AGENTFLOW_WORKFLOWS": "bench.steps_flows:registry",
                "AGENTFLOW_MODEL_BASE_URL": model_url,
                "AGENTFLOW_MODEL_API_KEY": "bench",
                "AGENTFLOW_SIGNING_KEYS_FILE": str(ROOT / "config" / "signing-keys.dev.json"),
                "AGENTFLOW_STEPS_MAX_IN_FLIGHT": concurrency,
                "AGENTFLOW_STEPS_MAX_PER_TENANT": concurrency,
            }
            return [sys.executable, *RUNNER_CMD], environ, log
        app = AppEnv(
            bootstrap=cfg.bootstrap,
            input_topic=f"{prefix}agentflow.steps",
            output_topic=f"{prefix}agentflow.ingress",
            group=f"{prefix}faust",
            state_dir=workdir / "state",
            partitions=cfg.partitions,
            commit_interval_ms=cfg.commit_interval_ms,
            batch_size=cfg.batch_size,
            guarantee="at_least_once",
            info_file=workdir / "info.json",
        )
        environ = {
            **app.to_environ(),
            "BENCH_MODEL_BASE_URL": model_url,
            "BENCH_CONCURRENCY": str(cfg.concurrency),
        }
        cmd = [sys.executable, "-m", "bench.faust_steps_app", "worker", "-l", "warn"]
        return cmd, environ, log

    def _produce(self, topic: str) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self.cfg.bootstrap,
                "linger.ms": 20,
                "partitioner": "murmur2_random",
            }
        )
        for i in range(self.cfg.commands):
            c = command(i)
            producer.produce(topic, c.encode(), c.workflow_id.encode(), headers=list(c.headers()))
            if i % 1000 == 0:
                producer.poll(0)
        producer.flush(60)

    def _answers(self, topic: str, procs: list[Any]) -> list[int]:
        """Broker timestamps (ms) of the answers, one per workflow, until all are in."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.cfg.bootstrap,
                "group.id": "bench-reader",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(self.cfg.partitions)]
        )
        stamps: dict[bytes, int] = {}
        deadline = time.monotonic() + self.cfg.timeout_s
        try:
            while len(stamps) < self.cfg.commands and time.monotonic() < deadline:
                if any(p.poll() is not None for p in procs):
                    break
                for m in consumer.consume(1000, 0.2):
                    if m.error() is None and m.key() is not None:
                        stamps.setdefault(m.key(), m.timestamp()[1])
        finally:
            consumer.close()
        return list(stamps.values())


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def result_line(doc: dict[str, Any]) -> str:
    """One line for the bench's summary."""
    parts = [
        f"{n} {r.get('steps_per_s', 0):,.0f}/s ({r.get('of_ideal', 0):.2f} of ideal, "
        f"{r.get('cpu_ms_per_step', 0):.1f} ms CPU/step)"
        for n, r in doc["contenders"].items()
    ]
    return (
        f"steps (ideal {doc['ideal_steps_per_s']:.0f}/s): "
        + ", ".join(parts)
        + (f"; agentflow/faust {doc['agentflow_vs_faust']}x" if "agentflow_vs_faust" in doc else "")
    )


if __name__ == "__main__":  # a quick manual run: python -m bench.steps [commands]
    bench = StepsBench(
        StepsConfig(
            bootstrap="127.0.0.1:9092", commands=int(sys.argv[1]) if len(sys.argv) > 1 else 2000
        ),
        print,
    )
    print(json.dumps(bench.run(), indent=2))
