"""``EventProducer``: how an upstream Python system sends events to agentflow's ingress topic.

::

    from agentflow.sdk import EventProducer, event_from_dict

    with EventProducer(bootstrap_servers="127.0.0.1:9092", key_id="helpdesk-1",
                       secret=Path("/run/secrets/helpdesk").read_text().strip()) as producer:
        future = producer.send(event_from_dict(payload))
        reports = producer.flush()          # [DeliveryReport(topic, partition, offset, ...)]

The producer is idempotent (``enable.idempotence``, ``acks=all``) and hashes keys with the
Java-compatible ``murmur2_random`` partitioner, so a workflow's events land on the partition its
state lives on. These three settings cannot be overridden.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanKind, TracerProvider

from agentflow.composition import build_deployment
from agentflow.gate_config import load_keyring
from agentflow.sdk.records import ContentType, OutgoingRecord, SdkError, Signer, build_record
from agentflow.settings import Settings, load_settings
from processors.events import Envelope, KeyRing
from processors.roles import INGRESS_ROLE
from streams.produce import produce
from streams.settings import KafkaSettings
from streams.tracing import TRACEPARENT, header_value, parse_traceparent, traceparent_of

FIXED_CONFIG: Mapping[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "partitioner": "murmur2_random",
}
DEFAULT_CONFIG: Mapping[str, Any] = {"linger.ms": 5, "message.timeout.ms": 60_000}


@dataclass(frozen=True)
class DeliveryReport:
    """Where a record landed (``error`` is None) or why it did not."""

    topic: str
    partition: int
    offset: int
    event_id: str | None
    workflow_id: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "workflow_id": self.workflow_id,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "error": self.error,
        }


class DeliveryFuture:
    """The outcome of one :meth:`EventProducer.send`, known once the broker answered."""

    def __init__(self, producer: Producer, record: OutgoingRecord, topic: str) -> None:
        self._producer = producer
        self._record = record
        self._topic = topic
        self._report: DeliveryReport | None = None

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        failed = err is not None
        self._report = DeliveryReport(
            topic=msg.topic() or self._topic,
            partition=int(msg.partition() if msg.partition() is not None else -1),
            offset=-1 if failed else int(msg.offset() or 0),
            event_id=self._record.event_id,
            workflow_id=self._record.workflow_id,
            error=err.str() if err is not None else None,
        )

    def done(self) -> bool:
        return self._report is not None

    def report(self) -> DeliveryReport | None:
        """The report if delivery finished, else None (does not wait)."""
        return self._report

    def result(self, timeout: float = 30.0) -> DeliveryReport:
        """Wait up to ``timeout`` seconds for the report; raises TimeoutError if none came."""
        deadline = time.monotonic() + timeout
        while self._report is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no delivery report within {timeout}s")
            self._producer.poll(min(left, 0.1))
        return self._report


class EventProducer:
    """Validates, encodes, signs and produces events to the ingress topic.

    Client options come from ``kafka`` (``AGENTFLOW_*``, by default), then ``config`` (any
    librdkafka option), then ``bootstrap_servers``. Signing: a ``keyring`` (the key of the
    event's source, or ``key_id``), or one ``secret`` with its ``key_id`` (optionally bound to
    ``source``). ``topic`` defaults to the configured deployment's ingress topic.

    Tracing: each :meth:`send` is a span (``agentflow.produce <event type>``) of
    ``tracer_provider``, by default OpenTelemetry's global one (a no-op unless the application
    configured one), child of the current span if there is one; its W3C ``traceparent`` goes
    in the record's headers, so the worker, the runner and the output events continue the
    trace. A ``traceparent`` passed in ``headers`` (an answer to an output record carries the
    output's) is the parent of the send's span.
    """

    def __init__(
        self,
        kafka: KafkaSettings | None = None,
        *,
        bootstrap_servers: str | None = None,
        config: Mapping[str, Any] | None = None,
        topic: str | None = None,
        keyring: KeyRing | None = None,
        key_id: str | None = None,
        secret: str | bytes | None = None,
        source: str | None = None,
        content_type: ContentType = "avro",
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer("agentflow.sdk", tracer_provider=tracer_provider)
        if secret is not None:
            if key_id is None:
                raise SdkError("a signing secret needs its key_id (the af-key-id the gate knows)")
            self.signer = Signer.from_secret(key_id, secret, source)
        elif keyring is not None:
            self.signer = Signer(keyring, key_id)
        else:
            raise SdkError("EventProducer needs a keyring or a secret with its key_id to sign")
        if kafka is None or topic is None:
            configured = load_settings()
            kafka = kafka or configured.kafka
            topic = topic or build_deployment(configured).topic(INGRESS_ROLE)
        conf = {**DEFAULT_CONFIG, **kafka.client_config(), **(config or {})}
        if bootstrap_servers is not None:
            conf["bootstrap.servers"] = bootstrap_servers
        self.config: dict[str, Any] = {**conf, **FIXED_CONFIG}
        self.topic = topic
        self.content_type: ContentType = content_type
        self._producer = Producer(self.config)
        self._pending: list[DeliveryFuture] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        key_id: str | None = None,
        content_type: ContentType = "avro",
        topic: str | None = None,
        config: Mapping[str, Any] | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> EventProducer:
        """A producer for ``settings``' deployment (the environment's, by default), signing
        with its keys (``AGENTFLOW_SIGNING_KEYS`` or ``AGENTFLOW_SIGNING_KEYS_FILE``). It needs
        only the Kafka client settings, the topic names and the keys: never the gate's policy,
        so a revoked key is refused by the gate, not here."""
        settings = settings or load_settings()
        return cls(
            settings.kafka,
            keyring=load_keyring(settings.signing),
            key_id=key_id,
            content_type=content_type,
            topic=topic or build_deployment(settings).topic(INGRESS_ROLE),
            config=config,
            tracer_provider=tracer_provider,
        )

    def check_topic(self, timeout: float = 10.0) -> int:
        """The ingress topic's partition count; raises :class:`SdkError` if it does not exist."""
        meta = self._producer.list_topics(timeout=timeout)
        found = meta.topics.get(self.topic)
        if found is None or found.error is not None:
            raise SdkError(
                f"topic {self.topic} does not exist; create it with `agentflow topics ensure` "
                "(same AGENTFLOW_TOPIC_PREFIX) or pass the right topic"
            )
        return len(found.partitions)

    def prepare(
        self,
        event: Envelope,
        *,
        content_type: ContentType | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> OutgoingRecord:
        """The signed record :meth:`send` would produce; raises :class:`InvalidEventError`."""
        return build_record(event, self.signer, content_type or self.content_type, headers)

    def send(
        self,
        event: Envelope,
        *,
        content_type: ContentType | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> DeliveryFuture:
        """Validate, encode, sign and produce ``event`` keyed by its ``workflow_id``.

        Raises :class:`InvalidEventError` before producing anything if the event is invalid.
        """
        attributes = {"agentflow.event_id": event.event_id,
                      "agentflow.event_type": event.event_type,
                      "agentflow.workflow_id": event.workflow_id, "messaging.system": "kafka",
                      "messaging.destination.name": self.topic}  # fmt: skip
        given = parse_traceparent(header_value(headers, TRACEPARENT))
        parent = trace.set_span_in_context(NonRecordingSpan(given)) if given else None
        with self._tracer.start_as_current_span(f"agentflow.produce {event.event_type}",
                                                context=parent, kind=SpanKind.PRODUCER,
                                                attributes=attributes) as span:  # fmt: skip
            if span.get_span_context().is_valid:
                headers = [*(h for h in headers if h[0] != TRACEPARENT), traceparent_of(span)]
            return self.send_record(self.prepare(event, content_type=content_type, headers=headers))

    def send_record(self, record: OutgoingRecord) -> DeliveryFuture:
        """Produce a prepared (or byte-exact, e.g. released) record as it is."""
        future = DeliveryFuture(self._producer, record, self.topic)
        produce(
            self._producer,
            self.topic,
            record.value,
            record.key,
            headers=list(record.headers),
            on_delivery=future._on_delivery,
        )
        self._producer.poll(0)
        self._pending.append(future)
        return future

    def flush(self, timeout: float = 60.0) -> list[DeliveryReport]:
        """Wait for every record sent since the last flush; their reports, in send order.

        The producer keeps each record's future until the next flush, so long-running senders
        should flush now and then (or the reports pile up). Raises :class:`SdkError` if some
        are still undelivered after ``timeout`` seconds.
        """
        left = self._producer.flush(timeout)
        if left:
            raise SdkError(
                f"{left} record(s) still undelivered after {timeout:g}s; is the broker at "
                f"{self.config.get('bootstrap.servers')} up (`agentflow broker status`)?"
            )
        done = [f.report() for f in self._pending]
        self._pending = [f for f in self._pending if not f.done()]
        return [r for r in done if r is not None]

    def close(self, timeout: float = 60.0) -> None:
        """Flush what is left; the producer must not be used afterwards."""
        self._producer.flush(timeout)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
