"""The local Apache Kafka broker (KRaft, jars from Maven Central) used by the demo and tests."""

from agentflow.broker.manager import (
    KAFKA_VERSION,
    BrokerError,
    BrokerPaths,
    BrokerStatus,
    bootstrap_address,
    broker_answers,
    down,
    status,
    up,
)

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "BrokerPaths",
    "BrokerStatus",
    "bootstrap_address",
    "broker_answers",
    "down",
    "status",
    "up",
]
