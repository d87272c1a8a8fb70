"""A three-node cluster of the test's own (`agentflow broker up --nodes 3`): the leader of an
ingress partition is SIGKILLed in the middle of a 2,500-workflow run. Topics have three
replicas with min.insync.replicas=2, so the run goes on with two nodes: exact final states,
no output twice to read_committed consumers, and every acknowledged event on the events
topic exactly as often as it was sent."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.enginekit.checks import check_run, collect
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import build_plans
from tests.integration.enginekit.run import EngineRun
from tests.integration.faust_apps._harness import run_agentflow

pytestmark = pytest.mark.timeout(600)
WORKFLOWS = 2500  # 5,000 took 5.5 min of CI for the same proof


def _leader(bootstrap: str, topic: str, partition: int) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    leader: int = admin.list_topics(topic, timeout=10).topics[topic].partitions[partition].leader
    return leader


def test_killing_an_ingress_leader_mid_run_loses_and_repeats_nothing(
    cluster_env: dict[str, str], topic_prefix: str, tmp_path: Path
) -> None:
    cluster = run_agentflow("broker", "up", "--nodes", "3", "--json", env=cluster_env,
                            timeout=180)  # fmt: skip
    assert [n["running"] for n in cluster["nodes"]] == [True, True, True]
    bootstrap = cluster["bootstrap"]
    dep = EngineDeployment.make(bootstrap, topic_prefix, tmp_path / "data", tag="cl3")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    ingress = admin.list_topics(dep.ingress, timeout=10).topics[dep.ingress]
    assert all(len(p.replicas) == 3 for p in ingress.partitions.values())
    plans = build_plans(WORKFLOWS, name="cl")
    worker = dep.worker()
    run = EngineRun(dep, plans)
    started = time.monotonic()
    try:
        run.send(plans)
        # Aimed: the kill lands once half the planned decisions are committed.
        run.wait(lambda r: len(r.audits) >= r.expected_audits // 2, timeout=300,
                 what="half the decisions")  # fmt: skip
        victim = _leader(bootstrap, dep.ingress, 0)
        pid = next(n["pid"] for n in cluster["nodes"] if n["node"] == victim)
        os.kill(pid, signal.SIGKILL)
        killed_at = len(run.audits)
        run.wait(lambda r: r.done() or not worker.alive(), timeout=300)
        assert worker.alive(), worker.log()
        run.settle(2.0)
        new_leader = _leader(bootstrap, dep.ingress, 0)
    finally:
        run.close()
        code = worker.stop(30)
    took = time.monotonic() - started
    print(
        f"{WORKFLOWS} workflows on 3 nodes in {took:.1f}s; node {victim} (leader of ingress[0]) "
        f"killed at {killed_at}/{run.expected_audits} decisions; new leader {new_leader}"
    )
    assert code == 0, worker.log()
    assert new_leader not in (victim, -1)
    check_run(run, collect(dep))
