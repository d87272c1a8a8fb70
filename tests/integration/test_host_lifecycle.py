"""Poison records, graceful stop, start-up errors, and driver/host agreement."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from examples.counter import CounterProcessor
from processors.quarantine import read_quarantine
from streams.driver import TestDriver
from tests.integration.hostkit import (
    CounterTopics,
    counter_records,
    counter_worker,
    produce,
    read_committed,
)
from tests.integration.workers import run_cli


def test_should_quarantine_poison_record_and_go_on_when_processor_raises(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    records = [(b"a", b"v1"), (b"a", b"boom"), (b"a", b"v2"), (b"b", b"v3")]
    produce(kafka_bootstrap, topics.input, records)
    w = counter_worker(
        kafka_bootstrap, topics, tmp_path, "w", processor="tests.integration.procs:PoisonCounter"
    )
    outputs = read_committed(kafka_bootstrap, topics.output, 3)
    quarantined = read_committed(kafka_bootstrap, topics.quarantine, 1)
    st = w.wait_for(lambda s: s.get("poison_records") == 1)
    assert w.stop() == 0
    assert sorted(v for _, v, _ in outputs) == [b"v1|1", b"v2|2", b"v3|1"]
    assert len(quarantined) == 1
    key, value, _ = quarantined[0]
    assert key == b"a"
    body = read_quarantine(value)
    assert body["reason"] == "processor_error"
    assert body["detail"] == "ZeroDivisionError: boom is not a number"
    assert body["original_value"] == b"boom"
    assert body["original_topic"] == topics.input
    assert st["poison_records"] == 1


def test_should_commit_and_leave_group_within_seconds_on_sigterm(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    records = counter_records(5_000, keys=100)
    produce(kafka_bootstrap, topics.input, records)
    w = counter_worker(kafka_bootstrap, topics, tmp_path, "w")
    w.wait_for(lambda s: s.get("records", 0) == 5_000)
    started = time.monotonic()
    assert w.stop(timeout=10) == 0
    assert time.monotonic() - started < 8
    st = w.stats()
    assert st["records"] == 5_000 and st["assigned_partitions"] == []
    assert len(read_committed(kafka_bootstrap, topics.output, 5_000)) == 5_000
    assert "host stopped" in w.log()


def test_should_size_batches_by_processing_time_when_a_time_budget_is_set(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    # 5,000 queued records come in 4 batches by count alone (measured); with a 1 ms budget,
    # after the first batch each holds what fits in 1 ms at the measured time per record (the
    # counter takes 5-30 µs, so 30-200 records).
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    produce(kafka_bootstrap, topics.input, counter_records(5_000, keys=100))
    w = counter_worker(
        kafka_bootstrap, topics, tmp_path, "w", extra_env={"AGENTFLOW_BATCH_MAX_MS": "1"}
    )
    w.wait_for(lambda s: s.get("records", 0) == 5_000)
    assert w.stop(timeout=10) == 0
    st = w.stats()
    assert st["records"] == 5_000
    assert st["batches"] >= 20, st
    assert len(read_committed(kafka_bootstrap, topics.output, 5_000)) == 5_000


def test_should_stop_with_one_clear_line_when_input_topic_is_missing(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    done = run_cli(
        "worker",
        "--processor",
        "examples.counter:CounterProcessor",
        "--role",
        f"input={topic_prefix}nope",
        "--role",
        f"output={topic_prefix}out",
        env={"AGENTFLOW_BOOTSTRAP_SERVERS": kafka_bootstrap, "AGENTFLOW_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert done.returncode == 2
    assert f"topic '{topic_prefix}nope' does not exist" in done.stderr
    assert "agentflow topics ensure" in done.stderr
    assert "Traceback" not in done.stderr


def test_should_stop_with_one_clear_line_when_broker_is_unreachable(tmp_path: Path) -> None:
    done = run_cli(
        "worker",
        "--processor",
        "examples.counter:CounterProcessor",
        "--role",
        "input=x",
        "--role",
        "output=y",
        env={"AGENTFLOW_BOOTSTRAP_SERVERS": "127.0.0.1:1", "AGENTFLOW_DATA_DIR": str(tmp_path)},
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot reach Kafka at 127.0.0.1:1" in done.stderr
    assert "Traceback" not in done.stderr


def test_should_give_identical_outputs_and_state_through_driver_and_host(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    records = counter_records(3_000, keys=50)
    produce(kafka_bootstrap, topics.input, records)
    w = counter_worker(kafka_bootstrap, topics, tmp_path / "host", "w")
    host_out = read_committed(kafka_bootstrap, topics.output, len(records))
    assert w.stop() == 0
    with TestDriver([CounterProcessor()], tmp_path / "driver", partitions=4) as driver:
        for key, value in records:
            driver.pipe("input", key, value)
        driver_out = driver.read("output")
        driver_state = {k: driver.state("counts", k) for k, _ in records}
    by_key_host: dict[bytes, list[bytes]] = defaultdict(list)
    for k, v, _ in host_out:
        by_key_host[k].append(v)
    by_key_driver: dict[bytes, list[bytes]] = defaultdict(list)
    for e in driver_out:
        assert e.key is not None and e.value is not None
        by_key_driver[e.key].append(e.value)
    assert by_key_host == by_key_driver
    host_state = {k: int(vs[-1].rsplit(b"|", 1)[1]) for k, vs in by_key_host.items()}
    assert host_state == driver_state


def test_should_take_its_partitions_back_at_once_when_restarted_with_the_same_id(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Static membership: a worker SIGKILLed and started again with the same worker id gets
    its partitions well before its old member's session (60 s here) could have expired."""
    topics = CounterTopics.make(kafka_bootstrap, topic_prefix)
    long_session = {"AGENTFLOW_SESSION_TIMEOUT_MS": "60000"}
    first = counter_worker(kafka_bootstrap, topics, tmp_path, "w", extra_env=long_session)
    first.wait_for(lambda s: len(s.get("assigned_partitions", [])) == 4)
    first.kill()
    killed_at = time.monotonic()
    again = counter_worker(kafka_bootstrap, topics, tmp_path, "w", extra_env=long_session)
    try:
        again.wait_for(lambda s: len(s.get("assigned_partitions", [])) == 4, timeout=30)
        assert time.monotonic() - killed_at < 60  # the dead member's session never expired
        records = counter_records(1_000, keys=10)
        produce(kafka_bootstrap, topics.input, records)
        outputs = read_committed(kafka_bootstrap, topics.output, len(records))
    finally:
        again.stop()
    assert len(outputs) == 1_000
