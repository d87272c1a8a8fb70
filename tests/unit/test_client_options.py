"""AGENTFLOW_KAFKA_OPTIONS: over the worker's tuning, never over what its guarantees rest on."""

from __future__ import annotations

import pytest

from streams import clients
from streams.errors import StartupError
from streams.settings import HostSettings, KafkaSettings

HOST = HostSettings(worker_id="w1")


def _kafka(**options: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers="127.0.0.1:9092", kafka_options=options)


def test_user_options_override_the_workers_tuning_in_every_client() -> None:
    kafka = _kafka(**{"linger.ms": "20", "fetch.wait.max.ms": "100", "client.rack": "a"})
    producer = clients.producer_config(kafka, HOST, "app")
    consumer = clients.consumer_config(kafka, HOST, "app")
    restore = clients.restore_consumer_config(kafka, HOST, "app")
    assert producer["linger.ms"] == "20"
    assert consumer["fetch.wait.max.ms"] == restore["fetch.wait.max.ms"] == "100"
    assert producer["client.rack"] == consumer["client.rack"] == restore["client.rack"] == "a"


def test_without_user_options_the_worker_keeps_its_own() -> None:
    producer = clients.producer_config(_kafka(), HOST, "app")
    assert producer["linger.ms"] == 5
    assert producer["transactional.id"] == "app-w1"
    assert clients.consumer_config(_kafka(), HOST, "app")["isolation.level"] == "read_committed"


@pytest.mark.parametrize(
    ("option", "hint"),
    [
        ("isolation.level", "committed records only"),
        ("transactional.id", "AGENTFLOW_WORKER_ID"),
        ("transaction.timeout.ms", "AGENTFLOW_TRANSACTION_TIMEOUT_MS"),
        ("session.timeout.ms", "AGENTFLOW_SESSION_TIMEOUT_MS"),
        ("partitioner", "murmur2"),
        ("enable.auto.commit", "checkpoint"),
    ],
)
def test_an_option_the_guarantees_rest_on_is_refused_with_one_line(option: str, hint: str) -> None:
    kafka = _kafka(**{option: "x"})
    for make in (clients.producer_config, clients.consumer_config):
        with pytest.raises(StartupError) as caught:
            make(kafka, HOST, "app")
        message = str(caught.value)
        assert f"'{option}'" in message and hint in message and "\n" not in message
