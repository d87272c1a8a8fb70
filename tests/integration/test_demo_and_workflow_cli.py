"""`agentflow demo` end to end, then `agentflow workflow show | list` on what it left."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.integration.workers import run_cli


def _cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, timeout=timeout)


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_should_run_demo_workflows_to_their_ends_and_show_them(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = {
        "AGENTFLOW_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AGENTFLOW_TOPIC_PREFIX": topic_prefix,
        "AGENTFLOW_APP_ID": f"demo{uuid.uuid4().hex[:6]}",
        "AGENTFLOW_DATA_DIR": str(tmp_path / "data"),
    }
    demo = _json(_cli(env, "demo", "--json"))
    by_scenario = {w["scenario"]: w for w in demo["workflows"]}
    assert {s: w["status"] for s, w in by_scenario.items()} == {
        "low-risk ticket": "done",
        "refund with approval": "resolved",
        "incident": "done",
        "closed before it was created": "closed",
        "refund denied": "closed",  # the agent withdrew, as the reviewer said
        "invalid model output, asked again": "done",
        "tool outside the allowlist": "done",
        "model rate-limited (429), retried": "done",
        "low-risk ticket of another tenant": "done",
        "details asked of the customer, then answered": "done",
        "refund approved as proposed, another tenant": "resolved",
        "incident without a deployment": "done",
    }
    assert {w["tenant"] for w in demo["workflows"]} == {"acme", "globex"}
    # The classifier that called a tool outside its allowlist: told, recorded, went on.
    overreach = by_scenario["tool outside the allowlist"]
    [classify] = [c for c in overreach["step_calls"] if c["step"] == "classify"]
    assert [(t["tool"], t["status"], t["error_type"]) for t in classify["tool_calls"]] == [
        ("issue_refund", "refused", "tool_not_allowed")
    ]
    # The sloppy one was asked again: two model requests for one classification.
    sloppy = by_scenario["invalid model output, asked again"]
    [classify] = [c for c in sloppy["step_calls"] if c["step"] == "classify"]
    assert classify["usage"]["requests"] == 2
    refund = by_scenario["refund with approval"]
    assert [h["to_state"] for h in refund["history"]] == [
        "classifying",
        "proposing_refund",
        "awaiting_approval",
        "executing_refund",
        "resolved",
    ]
    # The reviewer's edit is what the payments service received, once, under the ledger's key;
    # the other tenant's refund, approved as proposed, paid the proposed 42.00.
    as_proposed = by_scenario["refund approved as proposed, another tenant"]
    calls = {c["key"].split("/")[0]: c for c in demo["payments_calls"]}
    assert len(demo["payments_calls"]) == 2 and all(c["effective"] for c in calls.values())
    assert calls[refund["workflow_id"]]["body"]["amount"] == "30.00"
    assert calls[as_proposed["workflow_id"]]["body"]["amount"] == "42.00"
    assert refund["step_results"]["execute_refund"]["amount"] == "30.00"
    # The vague ticket asked the customer, waited, and was classified again on the reply.
    vague = by_scenario["details asked of the customer, then answered"]
    assert [h["to_state"] for h in vague["history"]] == [
        "classifying", "asking_customer", "waiting_for_customer", "classifying",
        "drafting_reply", "done",
    ]  # fmt: skip
    # What reached the outputs topic: the agent outputs, the approval request, the notices.
    assert refund["outputs"] == ["refund.recommended", "approval.requested", "workflow.completed"]
    assert by_scenario["low-risk ticket"]["outputs"] == ["reply.drafted", "workflow.completed"]
    assert by_scenario["incident"]["outputs"] == ["postmortem.drafted", "workflow.completed"]
    [gather] = [c for c in by_scenario["incident"]["step_calls"] if c["step"] == "gather_context"]
    assert [(t["tool"], t["impact"], t["status"]) for t in gather["tool_calls"]] == [
        ("service_status", "read", "called")
    ]
    low = by_scenario["low-risk ticket"]
    assert len(low["history"]) == 3  # the duplicate ticket.created changed nothing
    reasons = sorted(q["reason"] for q in demo["quarantined"])
    assert reasons == ["signature_invalid"]  # the forged event, and nothing we asked for
    assert demo["worker"]["poison_records"] == 0
    assert demo["decisions"]["duplicate"] == 1  # the re-sent ticket.created
    assert demo["decisions"]["ignored"] == 1  # the classify result after the early close
    assert "rejected" not in demo["decisions"]
    assert demo["decisions"]["held"] >= 1  # ticket.closed before its ticket.created

    shown = _json(_cli(env, "workflow", "show", refund["workflow_id"], "--json"))
    assert shown["status"] == "resolved"
    assert (shown["definition"], shown["version"], shown["tenant"]) == ("support_triage", 1, "acme")
    assert shown["read_from"] == "store+changelog"
    assert shown["history"] == refund["history"]

    # With no local store the same state is rebuilt from the changelog partition alone.
    elsewhere = {**env, "AGENTFLOW_DATA_DIR": str(tmp_path / "empty")}
    rebuilt = _json(_cli(elsewhere, "workflow", "show", refund["workflow_id"], "--json"))
    assert rebuilt["read_from"] == "changelog"
    assert {k: v for k, v in rebuilt.items() if k != "read_from"} == {
        k: v for k, v in shown.items() if k != "read_from"
    }

    listed = _json(_cli(env, "workflow", "list", "--tenant", "acme", "--json"))
    assert sorted(w["workflow_id"] for w in listed) == sorted(
        w["workflow_id"] for w in demo["workflows"] if w["tenant"] == "acme"
    )
    resolved = _json(_cli(env, "workflow", "list", "--status", "resolved", "--json"))
    # (the third refund was denied, and closed)
    assert sorted(w["workflow_id"] for w in resolved) == sorted(
        [refund["workflow_id"], as_proposed["workflow_id"]]
    )

    missing = _cli(env, "workflow", "show", "wf-nope")
    assert missing.returncode == 2
    assert "no workflow 'wf-nope'" in missing.stderr and "Traceback" not in missing.stderr
