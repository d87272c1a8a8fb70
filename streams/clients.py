"""librdkafka client configurations and the start-up checks that go with them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from streams.errors import StartupError
from streams.settings import ProcessingGuarantee, Settings


def consumer_config(settings: Settings) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "group.id": settings.app_id,
        "client.id": f"{settings.app_id}-{settings.worker_id}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
        "allow.auto.create.topics": False,
        "session.timeout.ms": settings.session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.session_timeout_ms // 5),
        "max.poll.interval.ms": 300_000,
        "fetch.wait.max.ms": 50,
        # librdkafka >= 2.4 backs fetching off for 1 s by default once its queue is full,
        # which stalled the host for whole seconds (bench: 26k -> 57-63k events/s).
        "fetch.queue.backoff.ms": 10,
        "queued.min.messages": 20_000,
        "log_level": 3,
    }


def producer_config(settings: Settings) -> dict[str, Any]:
    conf: dict[str, Any] = {
        **settings.client_config(),
        "client.id": f"{settings.app_id}-{settings.worker_id}",
        "enable.idempotence": True,
        "acks": "all",
        # Java-compatible key hashing: keys land where a Java producer would put them.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "compression.type": "lz4",
        # A transaction begun right after a commit often meets CONCURRENT_TRANSACTIONS while
        # the broker still writes the last one's markers; librdkafka retries after
        # retry.backoff.ms, 100 ms by default, which stalled one commit in ten by ~100 ms
        # (bench latency p99 136-183 ms at 200 events/s -> 65 ms). The Java client uses 20 ms
        # for this case (KAFKA-5477).
        "retry.backoff.ms": 5,
        "retry.backoff.max.ms": 100,
        "log_level": 3,
    }
    if settings.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE:
        # Stable per worker, so a restarted worker fences and aborts its predecessor's
        # transaction at once instead of waiting for the transaction timeout.
        conf["transactional.id"] = f"{settings.app_id}-{settings.worker_id}"
        conf["transaction.timeout.ms"] = settings.transaction_timeout_ms
    return conf


def restore_consumer_config(settings: Settings) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "group.id": f"{settings.app_id}-restore",
        "client.id": f"{settings.app_id}-{settings.worker_id}-restore",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 10,
        # As for the main consumer: the default 1 s fetch back-off once the local queue is
        # over its thresholds held a restore to ~45k records/s (2 KB states); 10 ms: 380k/s
        # consumed. The smaller queue bounds the restore's memory (64 MB by default).
        "fetch.queue.backoff.ms": 10,
        "queued.max.messages.kbytes": 16384,
        "log_level": 3,
    }


def check_topics(
    settings: Settings, topics: Iterable[str], timeout_s: float = 10.0
) -> dict[str, int]:
    """The partition count of each topic; a clear StartupError if the broker or one is missing."""
    admin = AdminClient({**settings.client_config(), "log_level": 0})
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise StartupError(
            f"cannot reach Kafka at {settings.bootstrap_servers} ({exc.args[0].str()}). "
            "Start it with `agentflow broker up`, or set AGENTFLOW_BOOTSTRAP_SERVERS."
        ) from None
    counts: dict[str, int] = {}
    for topic in topics:
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            raise StartupError(
                f"topic '{topic}' does not exist; the worker never creates topics. "
                "Create them with `agentflow topics ensure` (same AGENTFLOW_TOPIC_PREFIX)."
            )
        counts[topic] = len(found.partitions)
    return counts


def init_transactions(producer: Producer, settings: Settings, timeout_s: float = 30.0) -> None:
    """Register the transactional id, fencing any earlier producer with the same id."""
    try:
        producer.init_transactions(timeout_s)
    except KafkaException as exc:
        raise StartupError(
            f"the broker at {settings.bootstrap_servers} refused transactions "
            f"({exc.args[0].str()}). Use a broker with transactions enabled, or set "
            "AGENTFLOW_PROCESSING_GUARANTEE=at_least_once."
        ) from None
