"""One trace from event to action, across processes: the refund workflow, produced through the
SDK, decided by a worker process, its steps run by a step runner process (model requests and
the payments call), approved by a client that answers in the request's trace, and finished
with ``workflow.completed``. Every process exports its spans over OTLP/HTTP to a local
receiver; the spans must form one connected trace."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentflow.cli.steps_cmd import RUNNER_ACTOR
from agentflow.composition import build_deployment, processors_for, step_executor
from agentflow.gate_config import load_keyring
from agentflow.sdk import Signer, build_record, event_from_dict
from agentflow.testing.otlp_receiver import OtlpReceiver, ReceivedSpan
from agentflow.testing.services import LocalService
from agents.runner import StepRunner
from processors.engine.span_facts import span_facts
from streams.host import StreamHost
from streams.tracing import TRACEPARENT, Tracing, parse_traceparent
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import plan
from tests.integration.enginekit.readers import read_topic, reader
from tests.integration.enginekit.run import EngineRun
from tests.integration.workers import Served


def _outputs_traceparents(dep: EngineDeployment) -> list[bytes]:
    consumer = reader(dep.bootstrap)
    consumer.assign([TopicPartition(dep.outputs, p, OFFSET_BEGINNING)
                     for p in range(dep.partitions)])  # fmt: skip
    found = []
    for m in consumer.consume(100, 5):
        if m.error() is None:
            found += [v for k, v in m.headers() or () if k == TRACEPARENT]
    consumer.close()
    return found


def test_a_refund_is_one_trace_from_the_sdk_through_worker_and_runner_to_its_output(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="trc")
    refund = plan(0, "refund", name="trace")
    with (
        OtlpReceiver() as otlp,
        LocalService.start("examples.services.payments", "/calls") as payments,
        LocalService.start("examples.services.status", "/calls") as status,
    ):
        traced = {"AGENTFLOW_TRACES_EXPORTER": "otlp", "AGENTFLOW_TRACES_ENDPOINT": otlp.url}
        tools = {"AGENTFLOW_TOOL_URLS": json.dumps({"payments": payments.url,
                                                     "status": status.url})}  # fmt: skip
        client = Tracing.exporting(OTLPSpanExporter(endpoint=otlp.url), "test-client")
        with dep.worker("w1", env=traced) as worker, \
                dep.step_runner("r1", env={**traced, **tools}) as runner:  # fmt: skip
            run = EngineRun(dep, [refund], step_thread=False, tracer_provider=client.provider)
            try:
                run.send([refund])
                run.wait(timeout=90)
            finally:
                run.close()
            # SIGTERM: each process flushes its spans as it stops.
            runner.signal(signal.SIGTERM)
            worker.signal(signal.SIGTERM)
            assert runner.wait_exit(30) == 0, runner.log()[-2000:]
            assert worker.wait_exit(30) == 0, worker.log()[-2000:]
        client.shutdown()
        spans = otlp.spans()
        output_parents = _outputs_traceparents(dep)
        refunds = payments.get_json("/calls")["calls"]
    dep.delete()
    assert run.finished == {refund.workflow_id: "resolved"}
    assert len([c for c in refunds if c["effective"]]) == 1

    [root] = [s for s in spans if s.parent_id == ""]
    assert (root.service, root.name) == ("test-client", "agentflow.produce ticket.created")
    trace = [s for s in spans if s.trace_id == root.trace_id]
    assert len(trace) == len(spans), Counter((s.service, s.name) for s in spans)
    by_id: dict[str, ReceivedSpan] = {s.span_id: s for s in trace}
    assert all(s.parent_id in by_id for s in trace if s is not root)  # connected

    def path(span: ReceivedSpan) -> list[str]:
        names = []
        while span.parent_id:
            names.append(span.name)
            span = by_id[span.parent_id]
        return [*reversed(names)]

    # The payments call: a tool span inside execute_refund's step span, which descends from
    # the approval, which descends from the ticket.
    [tool] = [s for s in trace if s.name == "agentflow.tool issue_refund"]
    assert tool.service == "agentflow-steps"
    assert tool.attributes["agentflow.tool_status"] == "called"
    assert path(tool) == [
        "agentflow.process ingress",  # ticket.created
        "agentflow.step classify",
        "agentflow.process ingress",  # step.completed:classify
        "agentflow.step propose_refund",
        "agentflow.process ingress",  # step.completed:propose_refund -> approval.requested
        "agentflow.produce approval.granted",
        "agentflow.process ingress",  # approval.granted
        "agentflow.step execute_refund",
        "invoke_agent agent",  # pydantic-ai's run of the model step
        "execute_tool issue_refund",  # pydantic-ai handing the model's call to the toolbox
        "agentflow.tool issue_refund",
    ]
    # Model requests are spans of their steps (pydantic-ai's, without the prompts).
    models = [s for s in trace if s.service == "agentflow-steps" and s.name.startswith("chat")]
    steps_asking = Counter(next(n for n in reversed(path(m)) if n.startswith("agentflow.step"))
                           for m in models)  # fmt: skip
    assert set(steps_asking) == {"agentflow.step classify", "agentflow.step propose_refund",
                                 "agentflow.step execute_refund"}  # fmt: skip
    # Tenants' data stays out of spans: the messages' shape is there, not their text (the
    # ticket id is in every step's view and in the refund call).
    ticket = f"T-{refund.workflow_id}"
    assert not [s.name for s in trace if ticket in json.dumps(s.attributes)]
    # The last decision: its span carries the transition, and the workflow.completed record
    # on outputs carries its traceparent.
    [last] = [s for s in trace if s.attributes.get("agentflow.status") == "resolved"]
    assert last.service == "agentflow-worker"
    assert last.attributes["agentflow.transition"] == (
        "step.completed:execute_refund: executing_refund -> resolved"
    )
    assert last.attributes["agentflow.workflow_id"] == refund.workflow_id
    assert "outputs" in last.attributes["agentflow.emitted"]
    parents = [parse_traceparent(v) for v in output_parents]
    assert any(p is not None and f"{p.span_id:016x}" == last.span_id for p in parents)
    assert all(p is not None and f"{p.trace_id:032x}" == root.trace_id for p in parents)


def test_serve_continues_a_callers_trace_or_starts_one_and_hands_it_to_the_record(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="trs")
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with OtlpReceiver() as otlp:
        server = Served({
            "AGENTFLOW_BOOTSTRAP_SERVERS": dep.bootstrap, "AGENTFLOW_TOPIC_PREFIX": dep.prefix,
            "AGENTFLOW_SIGNING_KEYS": json.dumps({"helpdesk": {"helpdesk-dev-1": HELPDESK}}),
            "AGENTFLOW_TRACES_EXPORTER": "otlp", "AGENTFLOW_TRACES_ENDPOINT": otlp.url,
        }, tmp_path / "serve.log").start()  # fmt: skip
        try:
            for event_id, extra in (("trs-1", {TRACEPARENT: caller}), ("trs-2", {})):
                record = build_record(
                    event_from_dict(_envelope(event_id)),
                    Signer.from_secret("helpdesk-dev-1", HELPDESK, "helpdesk"), "json",
                )  # fmt: skip
                headers = {k: v.decode() for k, v in record.headers if k.startswith("af-")}
                answer = httpx.post(f"{server.url}/v1/events", content=record.value,
                                    headers={**headers, **extra}, timeout=10)  # fmt: skip
                assert answer.status_code == 202, answer.text
            # Spans leave in batches every half second; wait for both rather than the stop.
            deadline = time.monotonic() + 30
            while len(otlp.spans()) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            server.stop()
        spans = {s.attributes["agentflow.event_id"]: s for s in otlp.spans()}
        assert set(spans) == {"trs-1", "trs-2"}, server.log()[-3000:]
        on_topic = {dict(m.headers)[TRACEPARENT] for m in read_topic(dep.bootstrap, dep.ingress)}
    dep.delete()
    continued, started = spans["trs-1"], spans["trs-2"]
    assert (continued.name, continued.service) == ("agentflow.receive /v1/events",
                                                   "agentflow-serve")  # fmt: skip
    assert (continued.trace_id, continued.parent_id) == (
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
    )  # fmt: skip
    assert started.parent_id == "" and started.trace_id != continued.trace_id
    assert on_topic == {f"00-{s.trace_id}-{s.span_id}-01".encode() for s in (continued, started)}


HELPDESK = "dev-secret-helpdesk-1"


def _envelope(event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id, "event_type": "ticket.created", "schema_version": 1,
        "occurred_at": int(time.time() * 1000), "source": "helpdesk", "tenant": "acme",
        "actor": {"id": "cust-1", "kind": "user", "roles": ["customer"]},
        "workflow_id": f"wf-{event_id}",
        "payload": {"ticket_id": "T-1", "subject": "Hi", "body": "Help", "customer_id": "c-1"},
    }  # fmt: skip


def test_in_one_process_the_in_memory_exporter_sees_the_same_connected_trace(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """The stream host and the step runner on threads of this process, sharing one tracer
    provider with OpenTelemetry's in-memory exporter: what a test of your own can do."""
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="trm")
    refund = plan(0, "refund", name="mem")
    exporter = InMemorySpanExporter()
    tracing = Tracing.exporting(exporter, "in-process")
    with (
        LocalService.start("examples.services.payments", "/calls") as payments,
        LocalService.start("examples.services.status", "/calls") as status,
    ):
        settings = dep.settings().replace(
            app={"tool_urls": {"payments": payments.url, "status": status.url}},
            host={"data_dir": tmp_path / "host", "worker_id": "m1"},
        )
        processors = processors_for(settings, ())
        host = StreamHost(settings.kafka, settings.host, build_deployment(settings, processors),
                          processors, tracing=tracing, span_facts=span_facts)  # fmt: skip
        runner = StepRunner(
            settings.kafka, settings.replace(host={"data_dir": tmp_path / "runner"}).host,
            settings.runner, build_deployment(settings),
            step_executor(settings, RUNNER_ACTOR, tracing=tracing),
            load_keyring(settings.signing), "steps-dev-1",
        )  # fmt: skip
        threads = [threading.Thread(target=host.run), threading.Thread(target=runner.run)]
        for t in threads:
            t.start()
        run = EngineRun(dep, [refund], step_thread=False, tracer_provider=tracing.provider)
        try:
            run.send([refund])
            run.wait(timeout=90)
        finally:
            run.close()
            host.request_stop()
            runner.request_stop()
            for t in threads:
                t.join(60)
    tracing.shutdown()
    dep.delete()
    assert run.finished == {refund.workflow_id: "resolved"}
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert [s.name for s in roots] == ["agentflow.produce ticket.created"]
    ids = {s.context.span_id for s in spans}
    assert all(s.parent is None or s.parent.span_id in ids for s in spans)
    assert {s.context.trace_id for s in spans} == {roots[0].context.trace_id}
    names = Counter(s.name for s in spans)
    assert names["agentflow.step classify"] == names["agentflow.step execute_refund"] == 1
    assert names["agentflow.tool issue_refund"] == 1
    # ticket, classify's answer, propose's answer, the approval, execute's answer
    assert names["agentflow.process ingress"] == 5
