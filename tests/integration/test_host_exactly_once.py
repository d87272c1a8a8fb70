"""The stream host keeps exact counts and one output per input through crashes and failover."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.integration.hostkit import (
    CounterTopics,
    check_exactly_once,
    counter_records,
    counter_worker,
    produce,
    read_committed,
    run_with_kills,
)
from tests.integration.workers import Worker


def test_should_count_exactly_once_when_worker_is_sigkilled_five_times(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    records = counter_records(200_000, keys=10_000)
    # Six waves: each incarnation gets fresh input, so every kill lands while it works.
    waves = [records[i::6] for i in range(6)]
    outputs = run_with_kills(
        kafka_bootstrap,
        topics,
        tmp_path / "data",
        waves,
        seed=7,
        kill_env={"AGENTFLOW_BATCH_SIZE": "500"},
        final_env={},
    )
    check_exactly_once(records, outputs)
    uncommitted = read_committed(
        kafka_bootstrap, topics.output, len(records), isolation="read_uncommitted"
    )
    assert len(uncommitted) > len(outputs), "no kill landed inside an open transaction"


def _split(a: Worker, b: Worker) -> tuple[set[int], set[int]]:
    """Wait until the two workers' stats show a stable split of all four partitions."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pa = set(a.stats().get("assigned_partitions", []))
        pb = set(b.stats().get("assigned_partitions", []))
        if pa and pb and not pa & pb and pa | pb == {0, 1, 2, 3}:
            return pa, pb
        time.sleep(0.2)
    raise AssertionError(f"no stable split: {a.stats()} {b.stats()}")


def test_should_restore_dead_workers_partitions_on_the_survivor(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    a = counter_worker(kafka_bootstrap, topics, tmp_path / "a", "a")
    b = counter_worker(kafka_bootstrap, topics, tmp_path / "b", "b")
    try:
        a_partitions, _ = _split(a, b)
        first = counter_records(40_000, keys=2_000)
        produce(kafka_bootstrap, topics.input, first)
        read_committed(kafka_bootstrap, topics.output, len(first), settle=0)
        assert _split(a, b)[0] == a_partitions  # nobody moved while A worked
        restores_before = len(b.stats()["restores"])
        a.kill()
        second = [(k, v.replace(b"v", b"w")) for k, v in counter_records(20_000, keys=2_000)]
        produce(kafka_bootstrap, topics.input, second)
        b.wait_for(lambda s: len(s.get("assigned_partitions", [])) == 4, timeout=60)
        outputs = read_committed(kafka_bootstrap, topics.output, len(first) + len(second))
        st = b.stats()
    finally:
        a.kill()
        b.stop()
    after_kill = st["restores"][restores_before:]
    restored = {r["partition"] for r in after_kill if r["records"] > 0}
    assert restored == a_partitions, (a_partitions, after_kill)
    check_exactly_once(first + second, outputs)


def test_should_restore_every_table_when_data_dir_is_wiped(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    first = counter_records(10_000, keys=500)
    produce(kafka_bootstrap, topics.input, first)
    w = counter_worker(kafka_bootstrap, topics, tmp_path / "one", "w")
    read_committed(kafka_bootstrap, topics.output, len(first), settle=0)
    assert w.stop() == 0
    second = [(k, v.replace(b"v", b"x")) for k, v in counter_records(5_000, keys=500)]
    produce(kafka_bootstrap, topics.input, second)
    w2 = counter_worker(kafka_bootstrap, topics, tmp_path / "two-empty", "w")
    outputs = read_committed(kafka_bootstrap, topics.output, len(first) + len(second))
    st = w2.stats()
    assert w2.stop() == 0
    assert st["restored_records"] >= 500  # every key, maybe several records each before compaction
    check_exactly_once(first + second, outputs)


def test_should_fence_a_paused_zombie_so_none_of_its_writes_appear(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    records = counter_records(20_000, keys=3_000)
    produce(kafka_bootstrap, topics.input, records[:10_000])
    # A slow processor (5 ms a record) and a 4 s commit interval: the zombie's transactions
    # stay open for seconds, inside the 10 s transaction timeout, so SIGSTOP lands in one.
    zombie = counter_worker(
        kafka_bootstrap,
        topics,
        tmp_path / "z",
        "zombie",
        processor="tests.integration.procs:SlowCounter",
        extra_env={"AGENTFLOW_BATCH_SIZE": "1000", "AGENTFLOW_COMMIT_INTERVAL_MS": "4000"},
    )
    zombie.wait_for(lambda s: s.get("commits", 0) >= 1)
    time.sleep(1.5)
    zombie.signal(signal.SIGSTOP)
    try:
        survivor = counter_worker(kafka_bootstrap, topics, tmp_path / "s", "survivor")
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
