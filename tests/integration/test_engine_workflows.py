"""The workflow engine on the real broker: 2,000 workflows through the default worker (the gate
fused with the orchestrator), answered by the scripted step worker and an approver, with
duplicates and events sent before their workflow started."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.enginekit.checks import check_run, collect
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import KINDS, build_plans
from tests.integration.enginekit.run import EngineRun

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
    worker = deployment.worker()
    run = EngineRun(deployment, plans)
    started = time.monotonic()
    try:
        run.send(plans)
        run.wait(timeout=180)
        run.settle(2.0)
        assert worker.alive(), worker.log()
        stats = worker.stats()
    finally:
        run.close()
        code = worker.stop()
    elapsed = time.monotonic() - started
    print(f"2000 workflows in {elapsed:.1f}s: {dict(kinds)}; {stats.get('records')} records")
    assert code == 0, worker.log()
    assert stats["poison_records"] == 0
    assert run.approvals_sent == sum(p.approvals for p in plans)
    check_run(run, collect(deployment))
