"""Create missing topics and report drift, with confluent-kafka's AdminClient."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined,unused-ignore]
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from topics.catalog import TopicSpec


@dataclass
class DriftReport:
    """What ``ensure_topics`` found and did."""

    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "unchanged": self.unchanged, "drift": self.drift}


def ensure_topics(
    client_config: dict[str, Any],
    specs: Iterable[TopicSpec],
    timeout_s: float = 30.0,
) -> DriftReport:
    """Create the topics in ``specs`` that are missing; report those whose settings differ.

    Existing topics are never altered: a partition or config difference is reported as drift
    for a person to decide on, because changing partitions would move keys between partitions.
    """
    # Errors only: librdkafka's info lines (a purge of its background queue on close) read
    # as trouble in the output of `agentflow topics ensure` and `make demo`.
    admin = AdminClient({"log_level": 3, **client_config})
    specs = list(specs)
    metadata = admin.list_topics(timeout=timeout_s)
    existing = metadata.topics
    report = DriftReport()
    missing = [s for s in specs if s.name not in existing]
    if missing:
        brokers = len(metadata.brokers)
        new = []
        for s in missing:
            replicas = s.replication_factor or replication_for(brokers)
            new.append(NewTopic(s.name, s.partitions, replicas,
                                config={**s.config(), **durability_config(replicas)}))  # fmt: skip
        futures = admin.create_topics(new, operation_timeout=timeout_s)
        for name, fut in futures.items():
            try:
                fut.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
                report.unchanged.append(name)  # created concurrently by someone else
                continue
            report.created.append(name)
        _await_metadata(admin, report.created, timeout_s)
    present = [s for s in specs if s.name in existing]
    if present:
        resources = [ConfigResource(ResourceType.TOPIC, s.name) for s in present]
        configs = admin.describe_configs(resources, request_timeout=timeout_s)
        by_name = {r.name: fut.result() for r, fut in configs.items()}
        for s in present:
            name = s.name
            found_partitions = len(existing[name].partitions)
            diffs: dict[str, Any] = {}
            if found_partitions != s.partitions:
                diffs["partitions"] = {"want": s.partitions, "have": found_partitions}
            actual = by_name[name]
            for key, want in s.config().items():
                have = actual[key].value if key in actual else None
                if have != want:
                    diffs[key] = {"want": want, "have": have}
            if diffs:
                report.drift.append({"topic": name, "differences": diffs})
            else:
                report.unchanged.append(name)
    return report


def replication_for(brokers: int) -> int:
    """The replication factor of a new topic when none is set: one per broker, up to three."""
    return max(1, min(3, brokers))


def durability_config(replicas: int) -> dict[str, str]:
    """With three or more replicas a write needs two in sync (``acks=all``): one broker may
    fail without losing an acknowledged record or stopping writes."""
    return {"min.insync.replicas": "2"} if replicas >= 3 else {}


def _served(topic: Any) -> bool:
    """True if every partition of ``topic`` (metadata) has a leader."""
    if topic is None or topic.error is not None or not topic.partitions:
        return False
    return all(p.leader >= 0 and p.error is None for p in topic.partitions.values())


def _await_metadata(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """Wait until every created topic's partitions are in the broker's metadata, each with a
    leader: a creation is acknowledged before the broker serves it, and a client right after
    would find the topic missing or its partitions leaderless."""
    deadline = time.monotonic() + timeout_s
    waiting = set(names)
    while waiting and time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout_s).topics
        waiting = {n for n in waiting if not _served(topics.get(n))}
        if waiting:
            time.sleep(0.1)
