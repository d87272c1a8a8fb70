"""The stream host keeps exact counts and one output per input through crashes and failover."""

from __future__ import annotations

import random
import signal
import time
import uuid
from pathlib import Path

from tests.integration.hostkit import (
    CounterTopics,
    Worker,
    check_exactly_once,
    counter_records,
    produce,
    read_committed,
)


def _topics(prefix: str) -> CounterTopics:
    return CounterTopics(prefix=prefix, app_id=f"ctr{uuid.uuid4().hex[:6]}")


def test_should_count_exactly_once_when_worker_is_sigkilled_five_times(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = _topics(topic_prefix)
    topics.create(kafka_bootstrap)
    records = counter_records(200_000, keys=10_000)
    produce(kafka_bootstrap, topics.input, records)
    rng = random.Random(7)
    kills = 0
    while kills < 5:
        worker = Worker(kafka_bootstrap, topics, tmp_path / "data", "w1").start()
        worker.wait_for(lambda s: s.get("commits", 0) >= 1)
        time.sleep(rng.uniform(0.2, 2.0))
        worker.kill()
        kills += 1
    worker = Worker(kafka_bootstrap, topics, tmp_path / "data", "w1").start()
    outputs = read_committed(kafka_bootstrap, topics.output, len(records), timeout=240)
    assert worker.stop() == 0
    check_exactly_once(records, outputs)


def test_should_restore_dead_workers_partitions_on_the_survivor(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = _topics(topic_prefix)
    topics.create(kafka_bootstrap)
    first = counter_records(40_000, keys=2_000)
    produce(kafka_bootstrap, topics.input, first)
    a = Worker(kafka_bootstrap, topics, tmp_path / "a", "a").start()
    b = Worker(kafka_bootstrap, topics, tmp_path / "b", "b").start()
    try:
        a.wait_for(lambda s: len(s.get("assigned_partitions", [])) in (1, 2, 3))
        b.wait_for(lambda s: len(s.get("assigned_partitions", [])) in (1, 2, 3))
        read_committed(kafka_bootstrap, topics.output, len(first), settle=0)
        a_partitions = set(a.stats()["assigned_partitions"])  # type: ignore[arg-type]
        a.kill()
        second = [(k, v.replace(b"v", b"w")) for k, v in counter_records(20_000, keys=2_000)]
        produce(kafka_bootstrap, topics.input, second)
        st = b.wait_for(lambda s: len(s.get("assigned_partitions", [])) == 4, timeout=60)
        outputs = read_committed(kafka_bootstrap, topics.output, len(first) + len(second))
        st = b.stats()
    finally:
        a.kill()
        b.stop()
    restored = {r["partition"] for r in st["restores"] if r["records"] > 0}  # type: ignore[union-attr,index]
    assert a_partitions <= restored, (a_partitions, st["restores"])
    check_exactly_once(first + second, outputs)


def test_should_restore_every_table_when_data_dir_is_wiped(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = _topics(topic_prefix)
    topics.create(kafka_bootstrap)
    first = counter_records(10_000, keys=500)
    produce(kafka_bootstrap, topics.input, first)
    w = Worker(kafka_bootstrap, topics, tmp_path / "one", "w").start()
    read_committed(kafka_bootstrap, topics.output, len(first), settle=0)
    assert w.stop() == 0
    second = [(k, v.replace(b"v", b"x")) for k, v in counter_records(5_000, keys=500)]
    produce(kafka_bootstrap, topics.input, second)
    w2 = Worker(kafka_bootstrap, topics, tmp_path / "two-empty", "w").start()
    outputs = read_committed(kafka_bootstrap, topics.output, len(first) + len(second))
    st = w2.stats()
    assert w2.stop() == 0
    assert st["restored_records"] >= 500  # every key, maybe several records each before compaction
    check_exactly_once(first + second, outputs)


def test_should_fence_a_paused_zombie_so_none_of_its_writes_appear(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = _topics(topic_prefix)
    topics.create(kafka_bootstrap)
    records = counter_records(20_000, keys=3_000)
    produce(kafka_bootstrap, topics.input, records[:10_000])
    # A slow processor and a long commit interval: the zombie's transaction is open for
    # seconds (one batch of 1,000 records at 5 ms each), so SIGSTOP lands inside it.
    zombie = Worker(
        kafka_bootstrap,
        topics,
        tmp_path / "z",
        "zombie",
        processor="tests.integration.procs:SlowCounter",
        extra_env={"AGENTFLOW_BATCH_SIZE": "1000", "AGENTFLOW_COMMIT_INTERVAL_MS": "600000"},
    ).start()
    zombie.wait_for(lambda s: s.get("commits", 0) >= 1)
    time.sleep(1.5)
    zombie.signal(signal.SIGSTOP)
    try:
        survivor = Worker(kafka_bootstrap, topics, tmp_path / "s", "survivor").start()
        survivor.wait_for(lambda s: len(s.get("assigned_partitions", [])) == 4, timeout=60)
        produce(kafka_bootstrap, topics.input, records[10_000:])
        read_committed(kafka_bootstrap, topics.output, len(records), settle=0)
    finally:
        zombie.signal(signal.SIGCONT)
    zombie_stats = zombie.wait_for(lambda s: s.get("aborts", 0) >= 1, timeout=30)
    outputs = read_committed(kafka_bootstrap, topics.output, len(records), settle=2)
    zombie.stop()
    survivor.stop()
    assert zombie_stats["aborts"] == 1
    check_exactly_once(records, outputs)
