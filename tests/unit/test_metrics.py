"""Metrics: what the host's commits, restores and flow become in Prometheus, and the step
runner's and serve's own figures."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agentflow.cli.top_cmd import render
from agentflow.top import Snapshot, figures, parse
from agents.executor import StepOutcome
from agents.metrics import StepMetrics
from agents.model_step import StepUsage
from edge.metrics import EdgeMetrics
from processors.engine.records import StepCommand
from processors.events import StepCompletedV2
from streams.metrics import MetricsObserver
from streams.observer import CommitReport
from streams.recovery import RestoreReport

CONFIG = Path(__file__).resolve().parents[2] / "config"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_a_commit_counts_records_decisions_and_quarantines_by_their_tags() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(registry, "worker")
    emitted = {("audit", "applied"): 5, ("audit", "duplicate"): 2, ("steps", ""): 3,
               ("quarantine", "bad_signature"): 1}  # fmt: skip
    observer.on_commit(CommitReport(0.012, 7, 2, records=8, emitted=emitted))
    observer.on_commit(CommitReport(0.030, 1, 1, records=1, emitted={("audit", "applied"): 1}))
    w = {"component": "worker"}
    assert sample(registry, "agentflow_records_in_total", **w) == 9
    assert sample(registry, "agentflow_decisions_total", decision="applied", **w) == 6
    assert sample(registry, "agentflow_decisions_total", decision="duplicate", **w) == 2
    assert sample(registry, "agentflow_quarantined_total", reason="bad_signature", **w) == 1
    assert sample(registry, "agentflow_records_out_total", role="audit", **w) == 8
    assert sample(registry, "agentflow_records_out_total", role="steps", **w) == 3
    assert sample(registry, "agentflow_commit_seconds_count", **w) == 2
    assert sample(registry, "agentflow_commit_seconds_bucket", le="0.02", **w) == 1
    assert sample(registry, "agentflow_checkpoint_records_sum", **w) == 9


def test_lag_gauges_follow_the_assignment_and_flow_gauges_the_last_reading() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(registry, "steps")
    s = {"component": "steps"}
    observer.on_lag({"t.steps[0]": 5, "t.steps[1]": 0})
    assert sample(registry, "agentflow_consumer_lag", topic="t.steps", partition="0", **s) == 5
    observer.on_lag({"t.steps[1]": 3})  # partition 0 moved away: its gauge goes
    assert (
        registry.get_sample_value(
            "agentflow_consumer_lag", {"topic": "t.steps", "partition": "0", **s}
        )
        is None
    )
    assert sample(registry, "agentflow_consumer_lag", topic="t.steps", partition="1", **s) == 3
    observer.on_flow(in_flight=20, waiting=480, paused=2)
    observer.on_assign([0, 1, 3])
    observer.on_restore(RestoreReport("ledger", 1, 120, 0.05, 0, False, "behind"))
    observer.on_abort("fenced")
    assert sample(registry, "agentflow_steps_in_flight", **s) == 20
    assert sample(registry, "agentflow_steps_waiting", **s) == 480
    assert sample(registry, "agentflow_paused_partitions", **s) == 2
    assert sample(registry, "agentflow_assigned_partitions", **s) == 3
    assert sample(registry, "agentflow_restored_records_total", table="ledger", **s) == 120
    assert sample(registry, "agentflow_aborts_total", **s) == 1


def _command(step: str, tenant: str) -> StepCommand:
    return StepCommand(command_id="c1", workflow_id="wf-1", tenant=tenant,
                       definition_name="refund", definition_version=1, step=step, attempt=1,
                       causation_id="e1", issued_at=0, input={})  # fmt: skip


def test_step_metrics_count_outcomes_latency_and_spend_by_tenant_and_model() -> None:
    registry = CollectorRegistry()
    metrics = StepMetrics(registry)
    answer = StepCompletedV2.model_construct()
    usage = StepUsage("openai:gpt-x", 120, 30, 2, 900, cost_usd="0.0125")
    metrics.observe(_command("triage", "acme"), StepOutcome(answer, usage=usage), 0.9)
    metrics.observe(_command("triage", "acme"), StepOutcome(answer, usage=usage), 1.1)
    metrics.observe(_command("notify", "acme"), StepOutcome(answer), 0.01)
    acme = {"tenant": "acme", "model": "openai:gpt-x"}
    assert sample(registry, "agentflow_steps_total", step="triage", outcome="completed") == 2
    assert sample(registry, "agentflow_model_tokens_total", direction="input", **acme) == 240
    assert sample(registry, "agentflow_model_tokens_total", direction="output", **acme) == 60
    assert sample(registry, "agentflow_model_cost_usd_total", **acme) == 0.025
    assert sample(registry, "agentflow_step_seconds_count", step="notify", model="") == 1


def test_serve_counts_answers_by_route_source_and_status_and_serves_them() -> None:
    metrics = EdgeMetrics(CollectorRegistry())

    async def refuse(request: Request) -> Response:
        return JSONResponse({"accepted": False}, status_code=401)

    handler = metrics.timed("webhook", refuse)
    scope = {"type": "http", "method": "POST", "path": "/v1/webhooks/github", "headers": [],
             "path_params": {"source": "github"}, "query_string": b""}  # fmt: skip

    async def call() -> bytes:
        await handler(Request(scope))
        return bytes((await metrics.scrape(Request({**scope, "method": "GET"}))).body)

    scraped = asyncio.run(call()).decode()
    line = 'agentflow_http_requests_total{route="webhook",source="github",status="401"} 1.0'
    assert line in scraped


def test_top_figures_rates_quantiles_and_the_view() -> None:
    registry = CollectorRegistry()
    observer = MetricsObserver(registry, "steps")
    metrics = StepMetrics(registry)
    observer.on_commit(CommitReport(0.004, 1, 1, records=10, emitted={("ingress", "done"): 10}))
    before = parse("u", generate_latest(registry).decode(), at=10.0)
    for _ in range(99):
        observer.on_commit(CommitReport(0.004, 1, 1, records=10))
    observer.on_commit(CommitReport(0.9, 1, 1, records=10))
    metrics.set_waiting({"acme": 7})
    usage = StepUsage("openai:gpt-x", 100, 20, 1, 500, cost_usd="0.5")
    metrics.observe(_command("triage", "acme"), StepOutcome(StepCompletedV2.model_construct(),
                                                             usage=usage), 0.3)  # fmt: skip
    now = parse("u", generate_latest(registry).decode(), at=12.0)
    row = figures(now, before)
    assert row["records_in"] == 1010 and row["records_in_per_s"] == 500.0
    assert (row["commit_ms_p50"], row["commit_ms_p99"]) == (5.0, 5.0)  # bucket upper bounds
    steps = row["steps"]
    assert steps["waiting_by_tenant"] == {"acme": 7}
    assert steps["tokens_by_tenant"] == {"acme": 120}
    assert steps["cost_usd_by_tenant"] == {"acme": 0.5}
    assert figures(Snapshot("v", 0.0, error="refused")) == {"url": "v", "up": False,
                                                            "error": "refused"}  # fmt: skip
    console = Console(record=True, width=200)
    console.print(render([row, figures(Snapshot("v", 0.0, error="refused"))]))
    text = console.export_text()
    assert "steps at u" in text and "acme 7" in text and "down" in text


def all_metric_names() -> set[str]:
    """Every sample name the worker, the runner and serve can expose."""
    registry = CollectorRegistry()
    MetricsObserver(registry, "worker")
    StepMetrics(registry)
    EdgeMetrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(f"{family.name}{suffix}" for suffix in
                     ("_total", "_bucket", "_sum", "_count"))  # fmt: skip
    return names


def test_the_grafana_dashboard_and_prometheus_config_use_only_metrics_we_expose() -> None:
    dashboard = json.loads((CONFIG / "grafana" / "dashboards" / "agentflow.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"agentflow_[a-z_]+", target["expr"])}  # fmt: skip
    assert used and used <= all_metric_names(), used - all_metric_names()
    # Every family is on the dashboard.
    families = {n for n in all_metric_names() if not n.endswith(("_bucket", "_sum", "_count",
                                                                  "_total"))}  # fmt: skip
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in used}
    assert families - shown == set()
    targets = (CONFIG / "prometheus.yml").read_text()
    compose = (CONFIG.parent / "docker-compose.yml").read_text()
    for target in ("worker:9464", "steps:9465", "serve:8080"):
        assert target in targets
    assert "AGENTFLOW_METRICS_PORT: 9464" in compose and "AGENTFLOW_METRICS_PORT: 9465" in compose
