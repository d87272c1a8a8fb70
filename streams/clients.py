"""librdkafka client configurations and the start-up checks that go with them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from processors.contract import Record
from streams.errors import ConsumerFailed, StartupError
from streams.settings import HostSettings, KafkaSettings

#: Options the worker sets because its guarantees rest on them (exactly once, nothing lost,
#: Java-compatible routing), or that have a setting of their own: AGENTFLOW_KAFKA_OPTIONS may
#: not set them. Every other option it sets is tuning, which AGENTFLOW_KAFKA_OPTIONS overrides.
_RESERVED_OPTIONS: dict[str, str] = {
    "group.id": "it is AGENTFLOW_APP_ID",
    "group.instance.id": "it derives from AGENTFLOW_APP_ID and AGENTFLOW_WORKER_ID",
    "transactional.id": "it derives from AGENTFLOW_APP_ID and AGENTFLOW_WORKER_ID",
    "transaction.timeout.ms": "set AGENTFLOW_TRANSACTION_TIMEOUT_MS instead",
    "session.timeout.ms": "set AGENTFLOW_SESSION_TIMEOUT_MS instead",
    "enable.auto.commit": "offsets commit with each checkpoint",
    "enable.auto.offset.store": "offsets commit with each checkpoint",
    "isolation.level": "the worker reads committed records only",
    "auto.offset.reset": "a new group starts from the earliest record, so nothing is skipped",
    "enable.idempotence": "exactly-once needs the idempotent producer",
    "acks": "exactly-once needs acks=all",
    "partitioner": "keys must land where a Java producer puts them (murmur2)",
    "enable.partition.eof": "the restore needs to know when it has caught up",
}

# librdkafka error codes that mean "reached the broker, but could not log in".
_AUTH_FAILURES = frozenset(
    {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}
)


def _with_user_options(conf: dict[str, Any], kafka: KafkaSettings) -> dict[str, Any]:
    """``conf`` with AGENTFLOW_KAFKA_OPTIONS over its tuning; a StartupError if they set an
    option the worker reserves (:data:`_RESERVED_OPTIONS`)."""
    reserved = sorted(k for k in kafka.kafka_options if k in _RESERVED_OPTIONS)
    if reserved:
        key = reserved[0]
        raise StartupError(
            f"AGENTFLOW_KAFKA_OPTIONS sets '{key}', which the worker sets itself: "
            f"{_RESERVED_OPTIONS[key]}. Remove it from AGENTFLOW_KAFKA_OPTIONS."
        )
    return {**conf, **kafka.kafka_options}


def consumer_config(kafka: KafkaSettings, host: HostSettings, app_id: str) -> dict[str, Any]:
    """The host's consumer: group ``app_id``, static member ``<app_id>-<worker_id>``."""
    conf = {
        **kafka.client_config(),
        "group.id": app_id,
        "client.id": f"{app_id}-{host.worker_id}",
        # Static membership: a worker restarted with the same id takes its partitions back at
        # once instead of waiting for its old member's session to time out.
        "group.instance.id": f"{app_id}-{host.worker_id}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
        "allow.auto.create.topics": False,
        "session.timeout.ms": host.session_timeout_ms,
        "heartbeat.interval.ms": max(500, host.session_timeout_ms // 5),
        "max.poll.interval.ms": 300_000,
        "fetch.wait.max.ms": 50,
        # librdkafka >= 2.4 backs fetching off for 1 s by default once its queue is full,
        # which stalled the host for whole seconds (bench: 26k -> 57-63k events/s).
        "fetch.queue.backoff.ms": 10,
        "queued.min.messages": 20_000,
        "log_level": 3,
    }
    return _with_user_options(conf, kafka)


def producer_config(kafka: KafkaSettings, host: HostSettings, app_id: str) -> dict[str, Any]:
    """The host's producer: idempotent, acks=all, transactional under exactly-once."""
    conf: dict[str, Any] = {
        **kafka.client_config(),
        "client.id": f"{app_id}-{host.worker_id}",
        "enable.idempotence": True,
        "acks": "all",
        # Java-compatible key hashing: keys land where a Java producer would put them.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "compression.type": "lz4",
        # A transaction begun right after a commit often meets CONCURRENT_TRANSACTIONS while
        # the broker still writes the last one's markers (one per partition the transaction
        # touched, ~20 here); librdkafka retries after retry.backoff.ms, doubling up to
        # retry.backoff.max.ms. With librdkafka's 100 ms / 1 s, one commit in ten stalled by
        # ~100 ms; with 5 / 100 ms, send_offsets_to_transaction still took 5.7 ms (median)
        # back to back; with 1 / 5 ms it takes 1.0 ms, and the bench's latency at 1,000 events/s
        # went from p50 46-58 / p99 104-170 ms to 40 / 94 ms. The Java client uses 20 ms for
        # this case (KAFKA-5477).
        "retry.backoff.ms": 1,
        "retry.backoff.max.ms": 5,
        "log_level": 3,
    }
    if host.exactly_once:
        # Stable per worker, so a restarted worker fences and aborts its predecessor's
        # transaction at once instead of waiting for the transaction timeout.
        conf["transactional.id"] = f"{app_id}-{host.worker_id}"
        conf["transaction.timeout.ms"] = host.transaction_timeout_ms
    return _with_user_options(conf, kafka)


def restore_consumer_config(
    kafka: KafkaSettings, host: HostSettings, app_id: str
) -> dict[str, Any]:
    """The restore's consumer: reads changelogs to their end, outside the host's group."""
    conf = {
        **kafka.client_config(),
        "group.id": f"{app_id}-restore",
        "client.id": f"{app_id}-{host.worker_id}-restore",
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
    return _with_user_options(conf, kafka)


def check_topics(
    kafka: KafkaSettings, topics: Iterable[str], timeout_s: float = 10.0
) -> dict[str, int]:
    """The partition count of each topic; a clear StartupError if the broker cannot be reached
    (or refuses our login), or if a topic is missing."""
    errors: list[KafkaError] = []
    admin = AdminClient({**kafka.client_config(), "log_level": 0, "error_cb": errors.append})
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        admin.poll(0)  # error callbacks (a refused login, say) are served only here
        raise StartupError(unreachable_message(kafka, [exc.args[0], *errors])) from None
    counts: dict[str, int] = {}
    for topic in topics:
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            raise StartupError(
                f"topic '{topic}' does not exist; the worker never creates topics. "
                "Create it with `agentflow topics ensure` (same AGENTFLOW_TOPIC_PREFIX; add "
                "--processor for a custom processor's topics and changelogs)."
            )
        counts[topic] = len(found.partitions)
    return counts


def unreachable_message(kafka: KafkaSettings, errors: list[KafkaError]) -> str:
    """Why Kafka could not be used: a failed login, or no broker at the address."""
    auth = next((e for e in errors if e.code() in _AUTH_FAILURES), None)
    if auth is not None:
        return (
            f"Kafka at {kafka.bootstrap_servers} refused the login ({auth.str()}). Check "
            "AGENTFLOW_SECURITY_PROTOCOL, AGENTFLOW_SASL_* and AGENTFLOW_SSL_* (or "
            "AGENTFLOW_KAFKA_OPTIONS)."
        )
    first = errors[0].str() if errors else "no answer"
    if kafka.uses_authentication:
        protocol = kafka.security_protocol or kafka.kafka_options.get("security.protocol")
        return (
            f"cannot reach Kafka at {kafka.bootstrap_servers} with security protocol "
            f"{protocol} ({first}). Check that the listener at that address speaks {protocol}, "
            "and AGENTFLOW_SECURITY_PROTOCOL, AGENTFLOW_SASL_* and AGENTFLOW_SSL_*."
        )
    return (
        f"cannot reach Kafka at {kafka.bootstrap_servers} ({first}). Start it with "
        "`agentflow broker up`, or set AGENTFLOW_BOOTSTRAP_SERVERS (and "
        "AGENTFLOW_SECURITY_PROTOCOL if the broker needs SASL or TLS)."
    )


def record_of(msg: Any, role: str) -> Record:
    """A consumed Kafka message as the :class:`~processors.contract.Record` of ``role``.
    (The host builds its records inline: it is the per-event hot path.)"""
    return Record(role, msg.partition(), msg.offset(), msg.key(), msg.value(),
                  tuple(msg.headers() or ()), msg.timestamp()[1])  # fmt: skip


def rewind_to_committed(consumer: Consumer, assigned: list[TopicPartition]) -> None:
    """Seek each of ``assigned`` back to its committed offset (the beginning if it has none),
    after an abort. If the broker cannot say, :class:`ConsumerFailed`: the host or runner
    starts its clients again and waits the outage out."""
    if not assigned:
        return
    try:
        committed = consumer.committed(assigned, timeout=30)
    except KafkaException as exc:
        raise ConsumerFailed(f"cannot read the committed offsets: {exc.args[0].str()}") from None
    for tp in committed:
        offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
