"""Approval integrity end to end, through the inbox (``agentflow approvals``), on the real
broker with a real worker: a refund that needs two approvers.

- the customer who opened the ticket, though an approver too, may not approve it;
- a first grant is counted and the refund keeps waiting; the same approver again is refused;
- a second approver granting other edits is refused by the engine as ``stale_approval``;
- the second approver granting the same edit makes the quorum: the edited refund is paid;
- a decided approval takes no further decision.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from edge.reviewers import token_digest
from processors.quarantine import read_quarantine
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import plan
from tests.integration.enginekit.readers import read_topic
from tests.integration.enginekit.run import EngineRun
from tests.integration.workers import SHIPPED_CONFIG, run_cli

pytestmark = pytest.mark.timeout(300)

FLOWS = {"AGENTFLOW_WORKFLOWS": "tests.integration.approval_flows:quorum_of_two"}
ROLES = ["acme:refund_approver"]
REVIEWERS = json.dumps({"reviewers": [
    {"id": "u-olga", "roles": ROLES, "token_sha256": [token_digest("olga")]},
    {"id": "u-kai", "roles": ROLES, "token_sha256": [token_digest("kai")]},
    # The customer who opens the ticket, who is also an approver.
    {"id": "cust-77", "roles": ROLES, "token_sha256": [token_digest("cust")]},
]})  # fmt: skip


def test_two_approvers_the_same_edit_and_nobody_approves_their_own_request(
    kafka_bootstrap: str, run_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, f"{run_prefix}quorum.", tmp_path, tag="quo")
    dep.env.update(FLOWS)
    refund = replace(plan(1, "refund", name="quo"), approvals=0)
    env = {**SHIPPED_CONFIG, **FLOWS, **dep.cli_env(),
           "AGENTFLOW_REVIEWERS": REVIEWERS}  # fmt: skip

    def approvals(token: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("approvals", *args, env={**env, "AGENTFLOW_REVIEWER_TOKEN": token})

    worker = dep.worker()
    run = EngineRun(dep, [refund])
    try:
        run.send([refund])
        run.wait(lambda r: refund.workflow_id in r.requests, timeout=120, what="the request")
        approval_id = run.requests[refund.workflow_id][0].payload.approval_id
        listed = approvals("olga", "list", "--json")
        assert [e["approval_id"] for e in json.loads(listed.stdout)] == [approval_id]

        own = approvals("cust", "approve", approval_id)
        assert own.returncode == 2 and "you asked for this approval" in own.stderr

        first = approvals("olga", "approve", approval_id, "--edit", "amount=30.00", "--json")
        assert first.returncode == 0, first.stderr
        run.wait(lambda r: any(a.decision == "counted" for a in r.audits), timeout=60,
                 what="the first grant counted")  # fmt: skip
        twice = approvals("olga", "approve", approval_id, "--edit", "amount=30.00")
        assert twice.returncode == 2 and "granted it already" in twice.stderr

        other = approvals("kai", "approve", approval_id, "--edit", "amount=10.00", "--json")
        assert other.returncode == 0, other.stderr  # sent: the engine is the one to refuse it
        other_id = json.loads(other.stdout)["event_id"]
        run.wait(lambda r: any(a.event_id == other_id for a in r.audits), timeout=60,
                 what="the other edit decided")  # fmt: skip

        same = approvals("kai", "approve", approval_id, "--edit", "amount=30.00")
        assert same.returncode == 0, same.stderr
        run.wait(lambda r: refund.workflow_id in r.finished, timeout=120, what="the refund")
        after = approvals("kai", "deny", approval_id)
        assert after.returncode == 2 and "no pending approval" in after.stderr
        assert run.steps is not None
        paid = [r["refund"]["amount"] for r in run.steps.payments.effective_refunds()]
        records = read_topic(dep.bootstrap, dep.quarantine)
        quarantined = [read_quarantine(m.value or b"") for m in records]
    finally:
        run.close()
        worker.stop()
        dep.delete()
    assert run.finished[refund.workflow_id] == "resolved"
    assert paid == ["30.00"]
    decisions = [a.decision for a in run.audits if a.event_type == "approval.granted"]
    assert decisions == ["counted", "rejected", "applied"]
    assert [(q["reason"], q["event_id"]) for q in quarantined] == [("stale_approval", other_id)]
