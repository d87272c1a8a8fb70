"""Approval integrity, enforced by the engine whatever client sent the answer: no one decides
their own request, an answer is for the proposal shown, a decided approval takes no second
decision, and a quorum needs distinct approvers who grant one version of the proposal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agentflow.testing import WorkflowHarness
from agentflow.testing.actors import REVIEWER
from examples.workflows import EXAMPLE_DEFINITIONS
from processors.engine import OrchestratorProcessor
from processors.events import Actor, ApprovalRequestedV1, proposal_hash
from processors.partitioning import partition_for
from streams.driver import TestDriver
from workflows import DefinitionRegistry

WF = "wf-approve-1"
#: A customer who also holds the approver role (staff who raise tickets, say).
STAFF = Actor(id="u-sam", kind="user", roles=["customer", "refund_approver"])
SECOND = Actor(id="u-kai", kind="user", roles=["refund_approver"])


def _registry(quorum: int = 1) -> DefinitionRegistry:
    out = []
    for d in EXAMPLE_DEFINITIONS:
        if d.name == "support_triage":
            d = replace(
                d, approval_steps=tuple(replace(a, quorum=quorum) for a in d.approval_steps)
            )
        out.append(d)
    return DefinitionRegistry(out)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[WorkflowHarness]:
    yield from _harness(tmp_path, 1)


@pytest.fixture
def h2(tmp_path: Path) -> Iterator[WorkflowHarness]:
    yield from _harness(tmp_path, 2)


def _harness(tmp_path: Path, quorum: int) -> Iterator[WorkflowHarness]:
    with TestDriver([OrchestratorProcessor(_registry(quorum))], tmp_path) as driver:
        harness = WorkflowHarness(driver, WF)
        yield harness
        harness.assert_replays_identically()


def _to_approval(h: WorkflowHarness, starter: Actor | None = None) -> ApprovalRequestedV1:
    created = h.events.ticket_created()
    h.send(created if starter is None else created.model_copy(update={"actor": starter}))
    h.send(h.events.step_completed(h.command(), {"outcome": "refund"}))
    h.send(h.events.step_completed(h.command(), {"amount_minor": 4999, "currency": "EUR"}))
    return h.approval_request()


def _refusal(h: WorkflowHarness) -> tuple[str, str]:
    [q] = h.quarantined()
    return q["reason"], q["event_id"]


def test_the_customer_who_opened_the_ticket_may_not_approve_its_refund(h: WorkflowHarness) -> None:
    request = _to_approval(h, starter=STAFF)
    pending = h.state().pending_approvals[0]
    assert pending.requested_by == ("step-worker", "u-sam")
    assert pending.proposal_hash == proposal_hash(request.payload.proposal)
    own = h.events.approval_answer(request, reviewer=STAFF)
    h.send(own)
    assert _refusal(h) == ("self_approval", own.event_id)
    assert h.state().status == "awaiting_approval" and h.commands() == []
    h.send(h.events.approval_answer(request, reviewer=REVIEWER))
    assert h.state().status == "executing_refund"
    assert h.command().step == "execute_refund"


def test_an_answer_for_another_proposal_is_stale_and_the_current_one_is_taken(
    h: WorkflowHarness,
) -> None:
    request = _to_approval(h)
    old = h.events.approval_answer(request, shown={"amount_minor": "999", "currency": "EUR"})
    h.send(old)
    assert _refusal(h) == ("stale_approval", old.event_id)
    assert h.state().status == "awaiting_approval"
    h.send(h.events.approval_answer(request, changes={"amount_minor": "4500"}))
    # The audit shows both versions: the proposal as shown, and what the reviewer changed.
    approved = [a for a in h.audits() if a.decision == "applied"][-1].approval
    assert approved is not None and approved.proposal == request.payload.proposal
    assert [(c.field, c.old_value, c.new_value) for c in approved.changes] == [
        ("amount_minor", "4999", "4500")
    ]
    assert approved.proposal_hash == proposal_hash(request.payload.proposal)
    execute = h.command()
    assert json.loads(execute.input["event.changes"]) == [
        {"field": "amount_minor", "old_value": "4999", "new_value": "4500"}
    ]


def test_a_decided_approval_takes_no_second_decision(h: WorkflowHarness) -> None:
    request = _to_approval(h)
    h.send(h.events.approval_answer(request))
    h.command()
    late = h.events.approval_answer(request, granted=False, reviewer=SECOND)
    h.send(late)
    assert _refusal(h) == ("unexpected_approval", late.event_id)
    assert h.state().status == "executing_refund"


def test_a_quorum_needs_distinct_approvers_who_grant_the_same_edits(h2: WorkflowHarness) -> None:
    h = h2
    request = _to_approval(h)
    edit = {"amount_minor": "4500"}
    first = h.events.approval_answer(request, changes=edit)
    key = f"acme/{request.payload.approval_id}".encode()
    # The inbox's read model, kept on the workflow's partition.
    part = partition_for(WF.encode(), h.driver.partitions)
    entry = h.driver.state("approvals", key, part)
    assert entry is not None and entry["granted_by"] == [] and entry["quorum"] == 2
    assert (entry["workflow_id"], entry["proposal"]) == (WF, request.payload.proposal)
    assert entry["proposal_hash"] == proposal_hash(request.payload.proposal)
    assert [t["to"] for t in entry["timeline"]][-1] == "awaiting_approval"
    h.send(first)
    assert h.audits()[-1].decision == "counted"
    counted = h.driver.state("approvals", key, part)
    assert counted is not None and counted["granted_by"] == [REVIEWER.id]
    pending = h.state().pending_approvals[0]
    assert (pending.quorum, pending.granted_by) == (2, (REVIEWER.id,))
    assert h.state().status == "awaiting_approval" and h.commands() == []
    again = h.events.approval_answer(request, changes=edit)
    h.send(again)
    assert _refusal(h) == ("duplicate_approver", again.event_id)
    other = h.events.approval_answer(request, reviewer=SECOND, changes={"amount_minor": "100"})
    h.send(other)
    assert _refusal(h) == ("stale_approval", other.event_id)
    assert h.state().pending_approvals[0].granted_by == (REVIEWER.id,)
    h.send(h.events.approval_answer(request, reviewer=SECOND, changes=edit))
    assert [a.decision for a in h.audits()] == ["rejected", "rejected", "applied"]
    assert h.driver.state("approvals", key, part) is None  # decided: out of the inbox
    assert h.state().status == "executing_refund"
    execute = h.command()
    assert json.loads(execute.input["event.changes"])[0]["new_value"] == "4500"


def test_one_denial_ends_a_quorum(h2: WorkflowHarness) -> None:
    h = h2
    request = _to_approval(h)
    h.send(h.events.approval_answer(request))
    h.send(h.events.approval_answer(request, granted=False, reviewer=SECOND))
    assert h.state().status == "revising" and h.state().pending_approvals == ()
