"""docker-compose.yml keeps the same shapes as `agentflow broker up`: the "cluster" profile's
three KRaft nodes form one quorum with three replicas and min.insync.replicas=2, and the
agentflow services can export traces to the observe profile's Jaeger."""

from __future__ import annotations

import re
from pathlib import Path

COMPOSE = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()


def test_the_cluster_profile_runs_three_voters_with_three_replicas_and_two_in_sync() -> None:
    voters = "KAFKA_CONTROLLER_QUORUM_VOTERS: 1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    assert voters in COMPOSE
    for setting in ("KAFKA_DEFAULT_REPLICATION_FACTOR: 3", "KAFKA_MIN_INSYNC_REPLICAS: 2",
                    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: 3",
                    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: 3",
                    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 2"):  # fmt: skip
        assert setting in COMPOSE
    for node, port in ((1, 19092), (2, 19093), (3, 19094)):
        block = COMPOSE.split(f"  kafka-{node}:\n", 1)[1].split("\n\n", 1)[0]
        assert f"KAFKA_NODE_ID: {node}" in block
        assert f"PLAINTEXT://127.0.0.1:{port},INTERNAL://kafka-{node}:29092" in block
    # The image wants a 22-character base64 cluster id.
    [cluster_id] = re.findall(r"CLUSTER_ID: (\S+)", COMPOSE)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)


def test_every_agentflow_service_can_send_traces_to_jaeger() -> None:
    assert COMPOSE.count("AGENTFLOW_TRACES_ENDPOINT: http://jaeger:4318/v1/traces") == 3
    assert "jaegertracing/all-in-one" in COMPOSE
