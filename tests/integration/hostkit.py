"""Helpers for stream-host tests: counter topics and workers, producing and reading back."""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from confluent_kafka import Consumer, Producer

from processors.deployment import Deployment
from tests.integration.crashpoint import CRASHING, crash_env
from tests.integration.workers import Worker
from topics.admin import ensure_topics
from topics.catalog import TopicSpec, changelog_spec

COUNTER = "examples.counter:CounterProcessor"


@dataclass
class CounterTopics:
    prefix: str
    app_id: str
    partitions: int = 4

    @staticmethod
    def make(bootstrap: str, prefix: str) -> CounterTopics:
        """Topics under ``prefix`` for a counter app of its own, created."""
        topics = CounterTopics(prefix=prefix, app_id=f"ctr{uuid.uuid4().hex[:6]}")
        topics.create(bootstrap)
        return topics

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
        return self.deployment().changelog("counts")

    def deployment(self) -> Deployment:
        names = {"input": "in", "output": "out", "quarantine": "quarantine"}
        return Deployment.create(
            self.app_id, self.partitions, names, topic_prefix=self.prefix, tables=["counts"]
        )

    def create(self, bootstrap: str) -> None:
        p = self.partitions
        specs = [
            TopicSpec(self.input, "input", p, 1, "delete", -1, "", ""),
            TopicSpec(
                self.output,
                "output",
                p,
                1,
                "delete",
                -1,
                "",
                "",
                extra_config={"message.timestamp.type": "LogAppendTime"},
            ),
            TopicSpec(self.quarantine, "quarantine", p, 1, "delete", -1, "", ""),
            changelog_spec(self.deployment(), "counts"),
        ]
        ensure_topics({"bootstrap.servers": bootstrap}, specs)

    def roles(self) -> list[str]:
        return [f"input={self.input}", f"output={self.output}", f"quarantine={self.quarantine}"]


def counter_worker(
    bootstrap: str,
    topics: CounterTopics,
    data_dir: Path,
    worker_id: str,
    processor: str = COUNTER,
    extra_env: dict[str, str] | None = None,
) -> Worker:
    """An ``agentflow worker`` running the counter (or ``processor``) on ``topics``, started."""
    return Worker(
        bootstrap,
        topics.prefix,
        topics.app_id,
        data_dir,
        worker_id,
        processor,
        topics.roles(),
        dict(extra_env or {}),
    ).start()


#: A checkpoint per 50 records: many small transactions, each cut short by its own kill.
SLOW_CHECKPOINTS = {"AGENTFLOW_BATCH_SIZE": "50", "AGENTFLOW_COMMIT_INTERVAL_MS": "1"}


def run_with_kills(
    bootstrap: str,
    topics: CounterTopics,
    data_dir: Path,
    waves: list[list[tuple[bytes, bytes]]],
    seed: int,
    kill_env: dict[str, str],
    final_env: dict[str, str],
) -> list[tuple[bytes, bytes, int]]:
    """Produce each wave but the last and start a worker on it that SIGKILLs itself
    (:mod:`tests.integration.crashpoint`) at a random table write or record, alternately; then
    produce the last wave, let a worker finish everything, stop it cleanly and return every
    committed output."""
    rng = random.Random(seed)
    for n, wave in enumerate(waves[:-1]):
        produce(bootstrap, topics.input, wave)
        # Alternately at a table write inside a checkpoint (the waves have 500 keys or more, so
        # each writes 500 values at least, however many records a checkpoint takes) and at a
        # record, mostly with a commit in flight and outputs held for the next transaction.
        if n % 2 == 0:
            env = {**kill_env, **crash_env(rng.randint(100, 490), COUNTER)}
        else:
            env = {**kill_env, **crash_env(0, COUNTER, at_record=rng.randint(1_000, 14_000))}
        worker = counter_worker(bootstrap, topics, data_dir, "w1", CRASHING, env)
        assert worker.wait_exit(120) == -signal.SIGKILL, worker.log()
    produce(bootstrap, topics.input, waves[-1])
    worker = counter_worker(bootstrap, topics, data_dir, "w1", extra_env=final_env)
    total = sum(len(w) for w in waves)
    outputs = read_committed(bootstrap, topics.output, total, timeout=240)
    assert worker.stop() == 0
    return outputs


def produce_one(producer: Producer, topic: str, value: Any, key: Any, **kwargs: Any) -> None:
    """``producer.produce``, polling while its queue is full."""
    while True:
        try:
            producer.produce(topic, value, key, **kwargs)
            return
        except BufferError:
            producer.poll(0.1)


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
        produce_one(producer, topic, value, key)
    assert producer.flush(60) == 0


#: A record read back: (key, value, headers, partition).
Message = tuple[bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...], int]


def read_records(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout: float = 120.0,
    settle: float = 1.0,
    isolation: str = "read_committed",
    counts: Callable[[Message], bool] | None = None,
) -> list[Message]:
    """Every record of ``topic`` (aborted ones too if ``isolation`` is read_uncommitted),
    once ``expected`` of them (of those that ``counts``, if given) arrived, and ``settle``
    seconds more to catch any extra; or what arrived by ``timeout``."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "isolation.level": isolation,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[Message] = []
    counted = 0
    deadline = time.monotonic() + timeout
    settled_at: float | None = None
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(5000, 0.5):
                if msg.error() is None:
                    headers = tuple(msg.headers() or ())
                    out.append((msg.key(), msg.value(), headers, msg.partition()))
                    counted += 1 if counts is None else counts(out[-1])
            if counted >= expected:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle:
                    break
    finally:
        consumer.close()
    return out


def read_committed(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout: float = 120.0,
    settle: float = 1.0,
    isolation: str = "read_committed",
) -> list[tuple[bytes, bytes, int]]:
    """(key, value, partition) of every committed record, once ``expected`` arrived (+settle)."""
    read = read_records(bootstrap, topic, expected, timeout, settle, isolation)
    return cast(list[tuple[bytes, bytes, int]], [(k, v, p) for k, v, _, p in read])


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
