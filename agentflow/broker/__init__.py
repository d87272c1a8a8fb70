"""The local Apache Kafka broker (KRaft, jars from Maven Central) used by the demo and tests."""

from agentflow.broker.manager import (
    DEV_SASL_PASSWORD,
    DEV_SASL_USER,
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
    "DEV_SASL_PASSWORD",
    "DEV_SASL_USER",
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
