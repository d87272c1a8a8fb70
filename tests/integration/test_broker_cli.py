"""``agentflow broker up | status | down`` on an isolated second broker.

The broker under test gets its own state directory (``tmp_path``) and its own port pair, so the
shared broker on 9092 that the other tests use is never touched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.faust_apps._harness import run_agentflow
from tests.integration.isolated_broker import _brokers_using, _process_alive

pytestmark = pytest.mark.timeout(240)

STATUS_KEYS = {"running", "bootstrap", "pid", "kafka_version", "nodes"}


def _wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _read_one(bootstrap: str, topic: str) -> tuple[bytes, bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is not None and not msg.error():
                return msg.key(), msg.value()
        raise AssertionError(f"no record in {topic} within 30s")
    finally:
        consumer.close()


def test_should_run_one_broker_per_state_dir_and_keep_topics_across_down_and_up(
    isolated_broker_env: dict[str, str], tmp_path: Path
) -> None:
    env = isolated_broker_env
    port = int(env["AGENTFLOW_BROKER_PORT"])
    bootstrap = f"127.0.0.1:{port}"
    config = tmp_path / "state" / "broker" / "server.properties"

    first = run_agentflow("broker", "up", "--json", env=env)
    assert set(first) == STATUS_KEYS | {"seconds"}
    assert first["running"] is True
    assert first["bootstrap"] == bootstrap
    assert first["kafka_version"] == "4.1.1"
    pid = first["pid"]
    assert isinstance(pid, int)

    # `up` is idempotent: the second call finds the running broker and starts nothing.
    again = run_agentflow("broker", "up", "--json", env=env)
    assert again["pid"] == pid
    assert again["running"] is True
    assert _brokers_using(config) == [pid]
    assert (
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{port + 1},"
        f"SASL_PLAINTEXT://127.0.0.1:{port + 2}"
    ) in config.read_text().splitlines()

    status = run_agentflow("broker", "status", "--json", env=env)
    assert status == {
        "running": True,
        "bootstrap": bootstrap,
        "pid": pid,
        "kafka_version": "4.1.1",
        "nodes": [{"node": 1, "bootstrap": bootstrap, "pid": pid, "running": True}],
    }

    topic = "cli-lifecycle.persisted"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)], operation_timeout=30)[topic].result()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, key=b"wf-1", value=b"survives-restart", partition=0)
    assert producer.flush(30) == 0

    down = run_agentflow("broker", "down", "--json", env=env)
    stopped = {
        "running": False,
        "bootstrap": bootstrap,
        "pid": None,
        "kafka_version": "4.1.1",
        "nodes": [{"node": 1, "bootstrap": bootstrap, "pid": None, "running": False}],
    }
    assert down == stopped
    assert not _process_alive(pid)
    assert _brokers_using(config) == []
    assert run_agentflow("broker", "status", "--json", env=env) == stopped

    restarted = run_agentflow("broker", "up", "--json", env=env)
    assert restarted["running"] is True
    assert restarted["pid"] != pid
    assert _brokers_using(config) == [restarted["pid"]]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    _wait_until(lambda: topic in admin.list_topics(timeout=10).topics, 30, f"{topic} after restart")
    assert len(admin.list_topics(timeout=10).topics[topic].partitions) == 3
    assert _read_one(bootstrap, topic) == (b"wf-1", b"survives-restart")

    final = run_agentflow("broker", "down", "--json", env=env)
    assert final["running"] is False
    assert final["pid"] is None
    assert not _process_alive(restarted["pid"])
    assert _brokers_using(config) == []
