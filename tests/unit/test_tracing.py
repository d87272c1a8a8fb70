"""Traces: the W3C traceparent header, which hops start or continue a trace, what a worker's
span says about a decision, and the SDK's send span. Spans go to the SDK's in-memory
exporter through the same batching processor the hosts use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agentflow.sdk import EventProducer
from processors.contract import Emit
from processors.engine.records import AuditRecord, AuditTransition
from processors.engine.span_facts import span_facts
from processors.roles import AUDIT_ROLE, OUTPUTS_ROLE, QUARANTINE_ROLE, STEPS_ROLE
from streams.tracing import TRACEPARENT, Tracing, finish_hop, parse_traceparent, traceparent_of
from tests.integration.enginekit.plans import ticket_created

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED = f"00-{TRACE}-00f067aa0ba902b7-01".encode()
UNSAMPLED = f"00-{TRACE}-00f067aa0ba902b7-00".encode()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


def _tracing(exporter: InMemorySpanExporter, ratio: float = 1.0) -> Tracing:
    return Tracing.exporting(exporter, "unit", ratio)


def test_a_traceparent_is_parsed_and_a_bad_one_is_ignored() -> None:
    ctx = parse_traceparent(SAMPLED)
    assert ctx is not None and ctx.is_remote and ctx.trace_flags.sampled
    assert (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}") == (TRACE, "00f067aa0ba902b7")
    unsampled = parse_traceparent(UNSAMPLED.decode())
    assert unsampled is not None and not unsampled.trace_flags.sampled
    for bad in (None, b"", b"garbage", f"00-{TRACE}-00f067aa0ba902b7".encode(),
                f"00-{'0' * 32}-00f067aa0ba902b7-01".encode(), b"00-xyz-abc-01",
                f"00-{TRACE}-{'0' * 16}-01".encode()):  # fmt: skip
        assert parse_traceparent(bad) is None, bad


def test_a_host_continues_sampled_traces_only_and_never_starts_one(
    spans: InMemorySpanExporter,
) -> None:
    tracing = _tracing(spans)
    child = tracing.start("hop", [(TRACEPARENT, SAMPLED)])
    assert child is not None
    assert f"{child.get_span_context().trace_id:032x}" == TRACE
    child.end()
    assert tracing.start("hop", [(TRACEPARENT, UNSAMPLED)]) is None
    assert tracing.start("hop", [("other", b"x")]) is None  # no parent, not an entry point
    assert tracing.start("hop", None) is None
    tracing.shutdown()
    [exported] = spans.get_finished_spans()
    assert exported.parent is not None and f"{exported.parent.span_id:016x}" == "00f067aa0ba902b7"


def test_an_entry_point_starts_traces_at_its_sample_ratio(spans: InMemorySpanExporter) -> None:
    always, never = _tracing(spans, 1.0), _tracing(spans, 0.0)
    root = always.start("receive", None, kind=SpanKind.SERVER, root=True)
    assert root is not None and root.get_span_context().trace_flags.sampled
    root.end()
    assert never.start("receive", None, root=True) is None
    # A caller's traceparent wins over the ratio: its sampled flag decides.
    assert never.start("receive", [(TRACEPARENT, SAMPLED)], root=True) is not None
    header = traceparent_of(root)
    assert header[0] == TRACEPARENT and header[1].endswith(b"-01")
    assert parse_traceparent(header[1]) is not None


def test_every_record_a_traced_decision_emits_carries_its_span_as_parent(
    spans: InMemorySpanExporter,
) -> None:
    tracing = _tracing(spans)
    span = tracing.start("agentflow.process ingress", [(TRACEPARENT, SAMPLED)])
    assert span is not None
    emits = [Emit(STEPS_ROLE, b"wf", b"cmd", headers=(("af-step", b"classify"),)),
             Emit(OUTPUTS_ROLE, b"wf", b"out", headers=((TRACEPARENT, UNSAMPLED),))]  # fmt: skip
    traced = finish_hop(span, emits, lambda e: {"agentflow.emitted": [x.role for x in e]})
    mine = f"{span.get_span_context().span_id:016x}"
    for emit in traced:
        parents = [v for k, v in emit.headers if k == TRACEPARENT]
        assert len(parents) == 1
        ctx = parse_traceparent(parents[0])
        assert ctx is not None and f"{ctx.span_id:016x}" == mine
    assert traced[0].headers[0] == ("af-step", b"classify")
    tracing.shutdown()
    [exported] = spans.get_finished_spans()
    assert exported.attributes is not None
    assert list(exported.attributes["agentflow.emitted"]) == ["steps", "outputs"]  # type: ignore[arg-type]


def test_a_decisions_span_names_its_workflow_transition_commands_and_reason_codes() -> None:
    audit = AuditRecord(
        audit_id="a-1", workflow_id="wf-1", tenant="acme", definition_name="support_triage",
        definition_version=1, event_id="e-1", event_type="ticket.created", decision="applied",
        status_before=None, status_after="classifying",
        transition=AuditTransition(trigger="ticket.created", from_state=None,
                                   to_state="classifying", step="classify"),
        commands=("c-1",), decided_at=1,
    )  # fmt: skip
    emits = [
        Emit(AUDIT_ROLE, b"wf-1", audit.encode(), tag="applied"),
        Emit(STEPS_ROLE, b"wf-1", b"cmd"),
        Emit(QUARANTINE_ROLE, b"wf-2", b"q", tag="bad_signature"),
        Emit(AUDIT_ROLE, b"x", b"not an audit record"),  # another processor's: no facts
    ]
    assert span_facts(emits) == {
        "agentflow.workflow_id": "wf-1",
        "agentflow.event_id": "e-1",
        "agentflow.event_type": "ticket.created",
        "agentflow.tenant": "acme",
        "agentflow.transition": "ticket.created: None -> classifying",
        "agentflow.status": "classifying",
        "agentflow.decisions": ["applied"],
        "agentflow.commands": 1,
        "agentflow.reason_codes": ["bad_signature"],
        "agentflow.emitted": ["audit", "steps", "quarantine", "audit"],
    }


def test_the_sdks_send_is_a_span_whose_traceparent_travels_with_the_record(
    spans: InMemorySpanExporter,
) -> None:
    tracing = _tracing(spans)
    producer = EventProducer(bootstrap_servers="127.0.0.1:9", topic="ingress", key_id="k1",
                             secret="s3cret", tracer_provider=tracing.provider)  # fmt: skip
    event = ticket_created("wf-trace", "acme", refund=True)
    sent = producer.send(event)
    answered = producer.send(event, headers=[(TRACEPARENT, SAMPLED)])
    tracing.shutdown()
    first, second = spans.get_finished_spans()
    assert (first.name, first.kind, first.parent) == (
        "agentflow.produce ticket.created", SpanKind.PRODUCER, None,
    )  # fmt: skip
    assert first.attributes is not None
    assert first.attributes["agentflow.event_id"] == event.event_id
    # A traceparent given by the caller is the parent of the send's span, and is replaced.
    assert second.parent is not None and f"{second.parent.span_id:016x}" == "00f067aa0ba902b7"
    for future, span in ((sent, first), (answered, second)):
        [header] = [v for k, v in future._record.headers if k == TRACEPARENT]
        ctx = parse_traceparent(header)
        assert ctx is not None and ctx.span_id == span.context.span_id
