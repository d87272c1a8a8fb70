"""Helpers for stream-host tests: topics, worker processes, producing and reading back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, Producer

from topics.admin import ensure_topics
from topics.catalog import TopicSpec, changelog_spec

ROOT = Path(__file__).resolve().parents[2]
COUNTER = "processors.examples.counter:CounterProcessor"


@dataclass
class CounterTopics:
    prefix: str
    app_id: str
    partitions: int = 4

    @property
    def input(self) -> str:
        return f"{self.prefix}in"

    @property
    def output(self) -> str:
        return f"{self.prefix}out"

    @property
    def quarantine(self) -> str:
        return f"{self.prefix}quarantine"

    @property
    def changelog(self) -> str:
        return f"{self.prefix}{self.app_id}.counts.changelog"

    def create(self, bootstrap: str) -> None:
        p = self.partitions
        specs = [
            TopicSpec("in", "input", p, 1, "delete", -1, "", ""),
            TopicSpec(
                "out",
                "output",
                p,
                1,
                "delete",
                -1,
                "",
                "",
                extra_config={"message.timestamp.type": "LogAppendTime"},
            ),
            TopicSpec("quarantine", "quarantine", p, 1, "delete", -1, "", ""),
            changelog_spec(self.app_id, "counts", p),
        ]
        ensure_topics({"bootstrap.servers": bootstrap}, specs, prefix=self.prefix)

    def roles(self) -> list[str]:
        return [f"input={self.input}", f"output={self.output}", f"quarantine={self.quarantine}"]


@dataclass
class Worker:
    """An ``agentflow worker`` subprocess running the counter (or another processor)."""

    bootstrap: str
    topics: CounterTopics
    data_dir: Path
    worker_id: str
    processor: str = COUNTER
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def stats_file(self) -> Path:
        return self.data_dir / f"stats-{self.worker_id}.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / f"worker-{self.worker_id}.log"

    def start(self) -> Worker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stats_file.unlink(missing_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AGENTFLOW_BOOTSTRAP_SERVERS": self.bootstrap,
            "AGENTFLOW_APP_ID": self.topics.app_id,
            "AGENTFLOW_TOPIC_PREFIX": self.topics.prefix,
            "AGENTFLOW_WORKER_ID": self.worker_id,
            "AGENTFLOW_DATA_DIR": str(self.data_dir),
            "AGENTFLOW_STATS_FILE": str(self.stats_file),
            "AGENTFLOW_STATS_INTERVAL_S": "0.5",
            "AGENTFLOW_SESSION_TIMEOUT_MS": "6000",
            "AGENTFLOW_TRANSACTION_TIMEOUT_MS": "10000",
            **self.extra_env,
        }
        cmd = [
            sys.executable,
            "-m",
            "agentflow.cli.main",
            "worker",
            "--processor",
            self.processor,
            *[arg for role in self.topics.roles() for arg in ("--role", role)],
        ]
        log = open(self.log_file, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        log.close()
        return self

    def stats(self) -> dict[str, object]:
        try:
            data: dict[str, object] = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def wait_for(self, predicate: object, timeout: float = 60.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.stats()
            if st and predicate(st):  # type: ignore[operator]
                return st
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for worker stats {self.stats()}\n{self.log()}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def log(self) -> str:
        try:
            return self.log_file.read_text()[-4000:]
        except OSError:
            return ""


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Produce with the Java-compatible partitioner, as the SDK does."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 20,
            "enable.idempotence": True,
        }
    )
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0


def read_committed(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout: float = 120.0,
    settle: float = 1.0,
    isolation: str = "read_committed",
) -> list[tuple[bytes, bytes, int]]:
    """(key, value, partition) of every committed record, once ``expected`` arrived (+settle)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.time_ns()}",
            "isolation.level": isolation,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[tuple[bytes, bytes, int]] = []
    deadline = time.monotonic() + timeout
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(5000, 0.5):
                if msg.error() is None:
                    out.append((msg.key(), msg.value(), msg.partition()))
            if len(out) >= expected:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle:
                    break
    finally:
        consumer.close()
    return out


def counter_records(n: int, keys: int) -> list[tuple[bytes, bytes]]:
    return [(f"k{i % keys}".encode(), f"v{i}".encode()) for i in range(n)]


def check_exactly_once(
    records: list[tuple[bytes, bytes]], outputs: list[tuple[bytes, bytes, int]]
) -> None:
    """Each input has exactly one output, and each key's counts run 1..n with no gap."""
    sent = {v for _, v in records}
    seen = [v.rsplit(b"|", 1)[0] for _, v, _ in outputs]
    assert len(seen) == len(sent), f"{len(seen)} outputs for {len(sent)} inputs"
    assert set(seen) == sent
    per_key: dict[bytes, list[int]] = defaultdict(list)
    for k, v, _ in outputs:
        per_key[k].append(int(v.rsplit(b"|", 1)[1]))
    want: dict[bytes, int] = defaultdict(int)
    for k, _ in records:
        want[k] += 1
    for k, counts in per_key.items():
        assert sorted(counts) == list(range(1, want[k] + 1)), k
