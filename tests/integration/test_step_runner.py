"""``agentflow steps run`` on the broker: exactly-once results and effects through SIGKILLs."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

from agentflow.testing.services import LocalService
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import build_plans
from tests.integration.enginekit.readers import final_states
from tests.integration.enginekit.run import EngineRun
from tests.integration.steps_crash import kill_env

WORKFLOWS = 2000
#: Where each runner process kills itself: (point, its n-th refund): between the payments call
#: and the result (after_effect), with the intent committed and no call made (before_effect),
#: and inside an open transaction holding results (in_txn: see steps_crash).
KILLS = (("after_effect", 60), ("in_txn", 45), ("before_effect", 45), ("in_txn", 90),
         ("after_effect", 75))  # fmt: skip


def test_results_and_refunds_happen_exactly_once_through_five_sigkills(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", tag="stp")
    plans = build_plans(WORKFLOWS, name="sr")
    # The tools' services in processes of their own: in this one they competed with the pump.
    with (
        LocalService.start("examples.services.payments", "/calls") as payments,
        LocalService.start("examples.services.status", "/calls") as status,
        dep.worker("w1"),
    ):
        env = {
            "AGENTFLOW_TOOL_URLS": json.dumps({"payments": payments.url, "status": status.url}),
            "AGENTFLOW_STEPS_MAX_IN_FLIGHT": "50",
            "AGENTFLOW_STATS_INTERVAL_S": "2",
        }
        run = EngineRun(dep, plans, step_thread=False)
        try:
            run.send(plans)
            for point, at in KILLS:
                with dep.step_runner("r1", env={**env, **kill_env(point, at)}) as runner:
                    deadline = time.monotonic() + 120
                    while runner.alive() and time.monotonic() < deadline:
                        run.pump()
                    calls = len(payments.get_json("/calls")["calls"])
                    assert not runner.alive(), f"no kill at {point} of refund {at} ({calls} calls)"
                    assert runner.wait_exit(5) == -signal.SIGKILL, runner.log()[-2000:]
            with dep.step_runner("r1", env=env) as runner:
                run.wait(timeout=180)
                run.settle(1.0)
                runner.signal(signal.SIGTERM)
                assert runner.wait_exit(30) == 0, runner.log()
        finally:
            run.close()
        states = final_states(dep)
        calls = payments.get_json("/calls")["calls"]
    dep.delete()
    refunds = [p for p in plans if p.kind == "refund"]
    errors = {p.workflow_id: states[p.workflow_id].errors for p in plans
              if states[p.workflow_id].status != p.status}  # fmt: skip
    assert not errors, list(errors.items())[:3]
    assert run.finished == {p.workflow_id: p.status for p in plans}
    # One effective refund per approved workflow, and no key effective twice.
    effective = [c for c in calls if c["effective"]]
    by_reference = Counter(c["body"]["reference"] for c in effective)
    assert by_reference == Counter({f"T-{p.workflow_id}": 1 for p in refunds})
    keys = Counter(c["key"] for c in effective)
    assert all(n == 1 for n in keys.values()) and len(keys) == len(refunds)
    # The engine saw each step result once: none was a duplicate.
    step_audits = Counter(a.decision for a in run.audits if a.event_id.startswith("step-"))
    assert step_audits["duplicate"] == 0, step_audits
    # The final states are those of an uncrashed run.
    for p in plans:
        state = states[p.workflow_id]
        assert state.status == p.status, (p.workflow_id, state.errors)
        assert (state.status, list(state.completed_steps)) == (p.status, p.completed_steps), (
            p.workflow_id
        )
    for p in refunds:
        result = json.loads(states[p.workflow_id].step_results["execute_refund"])
        assert result["amount"] == "42.00" and result["refund_id"].startswith("rf-")
