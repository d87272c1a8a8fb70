"""The side-effect ledger's rules and what a reviewer approved."""

from __future__ import annotations

import json

import pytest

from processors.steps import (
    ApprovalMismatchError,
    LedgerConflictError,
    approved_arguments,
    check_approved,
    idempotency_key,
    intent_entry,
    next_action,
    outcome_entry,
)


def test_a_key_names_the_workflow_the_logical_step_and_the_call() -> None:
    assert idempotency_key("wf-1", "abc", 0) == "wf-1/abc/0"
    assert idempotency_key("wf-1", "abc", 1) != idempotency_key("wf-1", "abc", 0)


def test_an_entry_says_call_replay_or_reconcile() -> None:
    args = {"amount": "42.00", "currency": "EUR"}
    assert next_action(None, "issue_refund", args) == "call"
    intent = intent_entry("issue_refund", args, at_ms=1)
    assert next_action(intent, "issue_refund", dict(reversed(args.items()))) == "reconcile"
    done = outcome_entry(intent, {"refund_id": "rf-1"}, at_ms=2)
    assert next_action(done, "issue_refund", args) == "replay"
    with pytest.raises(LedgerConflictError):
        next_action(done, "issue_refund", {**args, "amount": "43.00"})
    with pytest.raises(LedgerConflictError):
        next_action(done, "other_tool", args)


def _granted(changes: list[dict[str, str]]) -> dict[str, str]:
    return {
        "event.type": "approval.granted",
        "event.changes": json.dumps(changes),
        "result.propose_refund": json.dumps(
            {"outcome": "proposed", "amount": "42.00", "currency": "EUR"}
        ),
    }


def test_the_approved_arguments_are_the_proposal_with_the_reviewers_edits() -> None:
    edits = [{"field": "amount", "old_value": "42.00", "new_value": "30.00"}]
    approved = approved_arguments(_granted(edits), "propose_refund")
    assert approved == {"outcome": "proposed", "amount": "30.00", "currency": "EUR"}
    check_approved({"amount": "30.00", "currency": "EUR", "reference": "T-1"}, approved)
    with pytest.raises(ApprovalMismatchError) as refused:
        check_approved({"amount": "42.00", "currency": "EUR"}, approved)
    assert refused.value.error_type == "not_approved"


def test_without_a_granted_approval_nothing_is_approved() -> None:
    denied = {**_granted([]), "event.type": "approval.denied"}
    with pytest.raises(ApprovalMismatchError) as refused:
        approved_arguments(denied, "propose_refund")
    assert refused.value.error_type == "approval_required"
    with pytest.raises(ApprovalMismatchError):
        approved_arguments({"event.type": "approval.granted"}, "propose_refund")
