"""Traces from event to action, with OpenTelemetry: a W3C ``traceparent`` Kafka header carries
the trace from one process to the next (the SDK or the webhook that produced an event, the
worker that decided on it, the runner that ran the step, the worker again).

A host holds a :class:`Tracing` (or None: tracing off, nothing on the hot path). Sampling is
decided once, where a trace starts (:meth:`Tracing.start` with no parent header, at
``sample_ratio``); every later hop follows the parent's sampled flag, so an unsampled record
costs one header scan and no span object. Spans go to an OTLP/HTTP receiver
(``AGENTFLOW_TRACES_EXPORTER=otlp``, ``AGENTFLOW_TRACES_ENDPOINT``) in batches, off the
processing thread; tests pass their own exporter.

Trace and span ids are random: they live only in headers and spans, never in a decision, so
replays and redeliveries still produce the same records.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from pydantic import Field
from pydantic_settings import BaseSettings

from processors.contract import Emit, Record
from streams.runtime import PartitionTask
from streams.settings import settings_config

TRACEPARENT = "traceparent"
AttributeValue = str | int | float | bool | Sequence[str]


class TracingSettings(BaseSettings):
    """Where spans go and how many traces are kept."""

    model_config = settings_config()

    #: ``none`` (tracing off) or ``otlp`` (OTLP over HTTP, protobuf).
    traces_exporter: Literal["none", "otlp"] = "none"
    #: The OTLP/HTTP traces endpoint (an OpenTelemetry Collector, Jaeger, Tempo...).
    traces_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    #: The share of traces started here that are recorded (0 to 1); later hops follow it.
    traces_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)


def parse_traceparent(value: bytes | str | None) -> SpanContext | None:
    """The span context of a W3C ``traceparent`` (``00-<trace id>-<span id>-<flags>``), or None
    if it is missing or malformed (a bad header never stops a record)."""
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    parts = text.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))


def traceparent_of(span: Span) -> tuple[str, bytes]:
    """The ``traceparent`` header that makes the next hop a child of ``span`` (sampled or
    not, as ``span`` is)."""
    ctx = span.get_span_context()
    flags = int(ctx.trace_flags) & 1
    return TRACEPARENT, f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags:02x}".encode()


def header_value(headers: Sequence[tuple[str, Any]] | None, name: str) -> Any:
    """The last value of header ``name``, or None."""
    found = None
    for key, value in headers or ():
        if key == name:
            found = value
    return found


@dataclass
class Tracing:
    """One process's tracer and sampling ratio; :meth:`shutdown` flushes what is batched."""

    provider: TracerProvider
    sample_ratio: float = 1.0

    def __post_init__(self) -> None:
        self.tracer = self.provider.get_tracer("agentflow")

    @classmethod
    def from_settings(cls, settings: TracingSettings, service: str) -> Tracing | None:
        """The process's tracing, or None when ``traces_exporter`` is ``none``."""
        if settings.traces_exporter == "none":
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return cls.exporting(OTLPSpanExporter(endpoint=settings.traces_endpoint), service,
                             settings.traces_sample_ratio)  # fmt: skip

    @classmethod
    def exporting(cls, exporter: SpanExporter, service: str, sample_ratio: float = 1.0) -> Tracing:
        """Tracing that hands finished spans to ``exporter`` in batches."""
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        return cls(provider, sample_ratio)

    def start(
        self,
        name: str,
        headers: Sequence[tuple[str, Any]] | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
        kind: SpanKind = SpanKind.CONSUMER,
        root: bool = False,
    ) -> Span | None:
        """A span for one hop, child of the ``traceparent`` in ``headers``; None when the
        parent is unsampled. With no parent, a new trace if ``root`` (where events enter:
        serve, at ``sample_ratio``), else None: the worker and the runner only continue
        traces, so a step result of an unsampled trace never starts a stray one."""
        parent = parse_traceparent(header_value(headers, TRACEPARENT))
        if parent is None:
            if not root or random.random() >= self.sample_ratio:
                return None
            context: Context | None = None
        elif not parent.trace_flags.sampled:
            return None
        else:
            context = trace.set_span_in_context(NonRecordingSpan(parent))
        return self.tracer.start_span(name, context=context, kind=kind, attributes=attributes)

    @contextmanager
    def current(self, span: Span | None) -> Iterator[None]:
        """Make ``span`` the current span (spans started inside are its children) and end
        it on exit; nothing if it is None."""
        if span is None:
            yield
            return
        with trace.use_span(span, end_on_exit=True, record_exception=True):
            yield

    def shutdown(self) -> None:
        self.provider.shutdown()


#: What a host learns from a decision for its span (the workflow, the transition, the reason
#: codes), given the records it emitted; supplied by whoever knows their format.
SpanFacts = Callable[[Sequence[Emit]], Mapping[str, AttributeValue]]


def record_attributes(topic: str, record: Record) -> dict[str, AttributeValue]:
    """The messaging attributes of a consumed record."""
    return {"messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.kafka.partition": record.partition,
            "messaging.kafka.offset": record.offset}  # fmt: skip


def finish_hop(span: Span, emits: Sequence[Emit], facts: SpanFacts | None) -> list[Emit]:
    """End ``span`` with what the decision says, and give every emitted record a
    ``traceparent`` that makes its consumer's span a child of it."""
    if facts is not None:
        span.set_attributes(facts(emits))
    header = traceparent_of(span)
    span.end()
    return [
        replace(e, headers=(*(h for h in e.headers if h[0] != TRACEPARENT), header)) for e in emits
    ]


def process_traced(
    tracing: Tracing,
    facts: SpanFacts | None,
    task: PartitionTask,
    record: Record,
    topic: str,
    now_ms: int,
) -> list[Emit]:
    """``task.process(record)`` in a span, child of the record's ``traceparent`` when that is
    sampled; the host's path for every record while tracing is on."""
    span = tracing.start(f"agentflow.process {record.role}", record.headers,
                         record_attributes(topic, record))  # fmt: skip
    emits = task.process(record, now_ms)
    return emits if span is None else finish_hop(span, emits, facts)
