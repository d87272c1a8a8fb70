"""The worker and the step runner through broker outages (an isolated broker of the test's
own): it is stopped and started again mid-run, then stopped for a full minute. Neither process
is touched; both carry on when the broker is back, and the run ends as an uninterrupted one
would: exact final states, one effective refund per approved workflow, nothing twice."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from agentflow.testing.services import LocalService
from tests.integration.enginekit.checks import check_run, collect
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import build_plans
from tests.integration.enginekit.run import EngineRun
from tests.integration.faust_apps._harness import run_agentflow

pytestmark = pytest.mark.timeout(600)
WORKFLOWS = 400
LONG_OUTAGE_S = 60


def test_the_worker_and_runner_ride_out_a_restart_and_a_minute_long_outage(
    isolated_broker_env: dict[str, str], tmp_path: Path
) -> None:
    env = isolated_broker_env
    bootstrap = run_agentflow("broker", "up", "--json", env=env)["bootstrap"]
    dep = EngineDeployment.make(bootstrap, "outage.", tmp_path / "data", tag="out")
    plans = build_plans(WORKFLOWS, name="ou")
    outages: list[tuple[int, float]] = []  # (decisions committed when it began, seconds)
    with (
        LocalService.start("examples.services.payments", "/calls") as payments,
        LocalService.start("examples.services.status", "/calls") as status,
        dep.worker("w1") as worker,
        dep.step_runner(
            "r1",
            env={
                "AGENTFLOW_TOOL_URLS": json.dumps({"payments": payments.url, "status": status.url}),
            },
        ) as runner,  # fmt: skip
    ):
        # Both in their groups before anything is sent: the first outage is aimed at a share of
        # the decisions, and a process still starting when the broker goes down (the runner
        # imports its model SDKs for seconds on a loaded machine) rightly stops with "cannot
        # reach Kafka" instead of riding the outage out.
        for proc in (worker, runner):
            proc.wait_for(lambda st: bool(st.get("assigned_partitions")), timeout=120)
        run = EngineRun(dep, plans, step_thread=False)
        try:
            run.send(plans)
            for fraction, down_s in ((3, 0.0), (2, LONG_OUTAGE_S)):
                # Aimed: each outage begins at a share of the planned decisions.
                share = run.expected_audits // fraction
                run.wait(lambda r: len(r.audits) >= share, timeout=240,  # noqa: B023 - used now
                         what=f"1/{fraction} of the decisions")  # fmt: skip
                outages.append((len(run.audits), down_s))
                run_agentflow("broker", "down", "--json", env=env, timeout=120)
                time.sleep(down_s)
                assert worker.alive(), worker.log()
                assert runner.alive(), runner.log()
                run_agentflow("broker", "up", "--json", env=env, timeout=120)
            try:
                run.wait(timeout=300)
            except AssertionError as exc:  # say where each process stood
                raise AssertionError(
                    f"{exc}\n--- worker:\n{worker.log()[-4000:]}\n--- runner:\n"
                    f"{runner.log()[-4000:]}"
                ) from None
            run.settle(2.0)
            assert worker.alive() and runner.alive()
        finally:
            run.close()
        calls = payments.get_json("/calls")["calls"]
    print(f"{WORKFLOWS} workflows through outages at {outages}")
    check_run(run, collect(dep))
    refunds = [p for p in plans if p.kind == "refund"]
    effective = Counter(c["body"]["reference"] for c in calls if c["effective"])
    assert effective == Counter({f"T-{p.workflow_id}": 1 for p in refunds})
