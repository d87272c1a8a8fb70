"""The workflow engine on the real broker: 2,000 workflows through the default worker (the gate
fused with the orchestrator), answered by the scripted step worker and an approver, with
duplicates and events sent before their workflow started."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from processors.quarantine import REASON_HEADER
from tests.integration.enginekit.checks import Collected, check_run, collect
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import KINDS, build_plans
from tests.integration.enginekit.readers import read_topics
from tests.integration.enginekit.run import EngineRun
from tests.integration.scrape import Samples, by_label, free_port, scrape, value
from tests.integration.workers import run_cli

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def deployment(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> Iterator[EngineDeployment]:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="wf")
    yield dep
    dep.delete()


def test_should_bring_2000_mixed_workflows_to_their_final_states_exactly_once(
    deployment: EngineDeployment,
) -> None:
    plans = build_plans(2000)
    kinds = Counter(p.kind for p in plans)
    assert set(kinds) == set(KINDS)
    assert sum(1 for p in plans if len(p.events) > len({e.event_id for e in p.events})) > 0
    port = free_port()
    worker = deployment.worker(env={"AGENTFLOW_METRICS_PORT": str(port)})
    run = EngineRun(deployment, plans)
    started = time.monotonic()
    try:
        run.send(plans)
        run.wait(timeout=180)
        run.settle(2.0)
        assert worker.alive(), worker.log()
        stats = worker.stats()
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        top = run_cli("top", "--once", "--json", "--interval", "0.2", "--url",
                      f"http://127.0.0.1:{port}/metrics", "--url", "http://127.0.0.1:1/metrics",
                      env={})  # fmt: skip
    finally:
        run.close()
        code = worker.stop()
    elapsed = time.monotonic() - started
    print(f"2000 workflows in {elapsed:.1f}s: {dict(kinds)}; {stats.get('records')} records")
    assert code == 0, worker.log()
    assert stats["poison_records"] == 0
    assert run.approvals_sent == sum(p.approvals for p in plans)
    got = collect(deployment)
    check_run(run, got)
    check_metrics(samples, got, deployment)
    # agentflow top reads the same endpoint (and says the other is down).
    assert top.returncode == 0, top.stderr
    worker_row, down = json.loads(top.stdout)
    assert worker_row["component"] == "worker" and worker_row["consumer_lag"] == 0
    assert worker_row["decisions"] == dict(Counter(a.decision for a in got.audits))
    assert worker_row["records_in_per_s"] == 0.0  # the run was over
    assert down["up"] is False


def check_metrics(samples: Samples, got: Collected, dep: EngineDeployment) -> None:
    """The worker's /metrics, scraped during the run, counts what the topics hold: input
    records, decisions by kind, quarantines by reason, records by role."""
    ingress = read_topics(dep.bootstrap, [dep.ingress], dep.partitions)[dep.ingress]
    assert value(samples, "agentflow_records_in_total", component="worker") == len(ingress)
    decisions = by_label(samples, "agentflow_decisions_total", "decision", component="worker")
    assert decisions == dict(Counter(a.decision for a in got.audits))
    reasons = Counter(dict(m.headers or ())[REASON_HEADER].decode() for m in got.quarantine)
    quarantined = by_label(samples, "agentflow_quarantined_total", "reason", component="worker")
    assert quarantined == dict(reasons)
    out = by_label(samples, "agentflow_records_out_total", "role", component="worker")
    assert out == {
        role: n
        for role, n in {
            "audit": len(got.audits),
            "steps": len(got.steps),
            "outputs": len(got.outputs),
            "events": len(got.events),
            "quarantine": len(got.quarantine),
        }.items()
        if n
    }
    assert value(samples, "agentflow_assigned_partitions", component="worker") == dep.partitions
