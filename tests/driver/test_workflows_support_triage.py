"""support_triage end to end through the test driver: every branch of the definition.

Each test pipes encoded events on role ``events``, answers the step commands it reads from
``steps`` with step.completed/failed built from them, and checks the exact final state, the
exact ids emitted (derived from the causing events) and the number of audit records.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentflow.testing import WorkflowHarness
from examples.workflows import example_registry
from examples.workflows.support_triage import APPROVAL_DEADLINE_MS, CLOSABLE
from processors.engine import OrchestratorProcessor, StepCommand, ids
from processors.engine.state import MAX_COMPLETED_STEPS, MAX_HISTORY, MAX_STEP_CALLS
from processors.events import ApprovalRequestedV1, Envelope, TicketCreatedV1
from processors.reasons import INVALID_TRANSITION
from streams.driver import TestDriver
from workflows import START

WF = "wf-ticket-1"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[WorkflowHarness]:
    with TestDriver([OrchestratorProcessor(example_registry())], tmp_path) as driver:
        harness = WorkflowHarness(driver, WF)
        yield harness
        # Every path these tests take is replayable: a fresh engine reading the events log
        # decides it exactly as the live run did.
        harness.assert_replays_identically()


def path_of(h: WorkflowHarness) -> list[tuple[str, str, str]]:
    """(trigger, from, to) of every transition taken, from the state's history."""
    return [(e.trigger, e.from_state or START, e.to_state) for e in h.state().history]


def applied_audit_ids(*events: Envelope) -> list[str]:
    return [ids.derive_id(e.event_id, "audit:applied") for e in events]


def send_created(h: WorkflowHarness) -> TicketCreatedV1:
    created = h.events.ticket_created()
    h.send(created)
    return created


def answer(
    h: WorkflowHarness, result: dict[str, object] | None = None, command: StepCommand | None = None
) -> Envelope:
    """Complete ``command`` (default: the one new step command) with ``result``; the
    step.completed event sent."""
    done = h.events.step_completed(command or h.command(), result)
    h.send(done)
    return done


def check_end(h: WorkflowHarness, status: str, cause: Envelope, kind: str = "completed") -> None:
    """The workflow ended in ``status`` because of ``cause``: exact notice, nothing open."""
    st = h.state()
    assert (st.status, st.final_outcome) == (status, status)
    assert st.timers == () and st.pending_approvals == () and st.held == ()
    assert all(c.status != "open" for c in st.step_calls)
    [notice] = h.outputs()
    assert notice.notice_id == ids.notice_id(cause.event_id, f"workflow.{kind}")  # type: ignore[union-attr]
    assert notice.outcome == status  # type: ignore[union-attr]
    assert h.commands() == [] and h.quarantined() == []


def test_low_risk_ticket_gets_a_reply_and_is_done(h: WorkflowHarness) -> None:
    created = send_created(h)
    classified = h.events.step_completed(h.command(), {"outcome": "low_risk"})
    h.send(classified)
    draft = h.command()
    assert draft.command_id == ids.command_id(classified.event_id, "draft_reply", 1)
    assert draft.input["result.classify"] == '{"outcome": "low_risk"}'
    drafted = answer(h, {"reply": "Refunded twice? We are on it."}, draft)
    check_end(h, "done", drafted)
    assert h.state().completed_steps == ("classify", "draft_reply")
    assert path_of(h) == [
        ("ticket.created", START, "classifying"),
        ("step.completed:classify:low_risk", "classifying", "drafting_reply"),
        ("step.completed:draft_reply", "drafting_reply", "done"),
    ]
    assert [a.audit_id for a in h.audits()] == applied_audit_ids(created, classified, drafted)


def test_a_long_running_ticket_keeps_its_state_bounded(h: WorkflowHarness) -> None:
    created = send_created(h)
    cycles = 17  # 3 transitions and 2 completed steps each, past every bound
    replies = []
    for _ in range(cycles):
        answer(h, {"outcome": "needs_info"})
        answer(h)  # request_info
        replies.append(h.events.customer_replied("more details"))
        h.send(replies[-1])
    st = h.state()
    assert st.status == "classifying"
    transitions = 1 + 3 * cycles
    assert len(st.history) == MAX_HISTORY < transitions
    assert st.history[-1].event_id == replies[-1].event_id  # the newest are kept
    assert len(st.step_calls) == MAX_STEP_CALLS
    [open_call] = [c for c in st.step_calls if c.status == "open"]
    assert open_call.command_id == ids.command_id(replies[-1].event_id, "classify", 1)
    assert len(st.completed_steps) == MAX_COMPLETED_STEPS
    assert len(st.seen_event_ids) == 1 + 3 * cycles and st.seen_event_ids[0] == created.event_id
    assert len(h.audits()) == transitions


def test_unclear_ticket_asks_the_customer_and_reclassifies_the_reply(h: WorkflowHarness) -> None:
    created = send_created(h)
    first_classify = h.command()
    assert first_classify.command_id == ids.command_id(created.event_id, "classify", 1)
    answer(h, {"outcome": "needs_info"}, first_classify)
    ask = h.command()
    assert ask.step == "request_info"
    replied = h.events.customer_replied("It was order 5521.")
    h.send(replied)  # early: the question is not out yet, so the reply is held
    asked = answer(h, None, ask)
    second_classify = h.command()  # the held reply applied right after request_info
    assert second_classify.command_id == ids.command_id(replied.event_id, "classify", 1)
    assert second_classify.input["event.body"] == "It was order 5521."
    answer(h, {"outcome": "low_risk"}, second_classify)
    drafted = answer(h)
    check_end(h, "done", drafted)
    assert path_of(h) == [
        ("ticket.created", START, "classifying"),
        ("step.completed:classify:needs_info", "classifying", "asking_customer"),
        ("step.completed:request_info", "asking_customer", "waiting_for_customer"),
        ("customer.replied", "waiting_for_customer", "classifying"),
        ("step.completed:classify:low_risk", "classifying", "drafting_reply"),
        ("step.completed:draft_reply", "drafting_reply", "done"),
    ]
    audits = h.audits()
    assert [a.decision for a in audits] == ["applied", "applied", "held"] + ["applied"] * 4
    assert audits[4].event_id == replied.event_id and audits[3].event_id == asked.event_id
    assert h.state().completed_steps == ("classify", "request_info", "classify", "draft_reply")


def to_approval(h: WorkflowHarness) -> tuple[Envelope, ApprovalRequestedV1]:
    """ticket.created -> classify(refund) -> propose_refund: the proposal and the request."""
    send_created(h)
    answer(h, {"outcome": "refund"})
    proposed = answer(h, {"amount_minor": 4999, "currency": "EUR"})
    request = h.approval_request()
    assert request.event_id == ids.approval_request_event_id(proposed.event_id, "approve_refund")
    assert request.payload.approval_id == ids.approval_id(proposed.event_id, "approve_refund")
    assert request.payload.proposal == {"amount_minor": "4999", "currency": "EUR"}
    assert request.payload.required_role == "refund_approver"
    assert request.payload.due_at == h.state().timers[0].due_at == APPROVAL_DEADLINE_MS
    return proposed, request


def test_granted_refund_is_executed_and_resolved(h: WorkflowHarness) -> None:
    _, request = to_approval(h)
    granted = h.events.approval_granted(request)
    h.send(granted)
    execute = h.command()
    assert execute.command_id == ids.command_id(granted.event_id, "execute_refund", 1)
    assert execute.input["event.approval_id"] == request.payload.approval_id
    assert execute.input["result.propose_refund"] == '{"amount_minor": 4999, "currency": "EUR"}'
    executed = answer(h, {"refund_id": "rf-1"}, execute)
    check_end(h, "resolved", executed)
    assert [t for t, _, _ in path_of(h)] == [
        "ticket.created",
        "step.completed:classify:refund",
        "step.completed:propose_refund",
        "approval.granted",
        "step.completed:execute_refund",
    ]
    assert len(h.audits()) == 5


def test_denied_refund_is_revised_resubmitted_and_then_granted(h: WorkflowHarness) -> None:
    _, first = to_approval(h)
    denied = h.events.approval_denied(first)
    h.send(denied)
    revise = h.command()
    assert revise.command_id == ids.command_id(denied.event_id, "revise", 1)
    resubmitted = answer(h, {"outcome": "resubmit", "amount_minor": 4500}, revise)
    second = h.approval_request()
    assert second.payload.approval_id == ids.approval_id(resubmitted.event_id, "approve_refund")
    assert second.payload.proposal == {"amount_minor": "4500", "outcome": "resubmit"}
    stale = h.events.approval_granted(first)  # the first request was answered already
    h.send(stale)
    [q] = h.quarantined()
    assert q["reason"] == "unexpected_approval" and q["event_id"] == stale.event_id
    h.send(h.events.approval_granted(second))
    executed = answer(h)
    check_end(h, "resolved", executed)
    assert [to for _, _, to in path_of(h)] == [
        "classifying",
        "proposing_refund",
        "awaiting_approval",
        "revising",
        "awaiting_approval",
        "executing_refund",
        "resolved",
    ]
    assert [a.decision for a in h.audits()] == ["applied"] * 5 + ["rejected"] + ["applied"] * 2


def test_denied_refund_that_is_withdrawn_closes_the_ticket(h: WorkflowHarness) -> None:
    _, request = to_approval(h)
    h.send(h.events.approval_denied(request))
    withdrawn = answer(h, {"outcome": "withdraw"})
    check_end(h, "closed", withdrawn)
    assert path_of(h)[-2:] == [
        ("approval.denied", "awaiting_approval", "revising"),
        ("step.completed:revise:withdraw", "revising", "closed"),
    ]
    assert len(h.audits()) == 5


def test_unanswered_approval_escalates_after_48_hours(h: WorkflowHarness) -> None:
    to_approval(h)
    timer = h.state().timers[0]
    h.driver.advance_time(APPROVAL_DEADLINE_MS - 1_000)
    assert h.timer_events() == []
    h.driver.advance_time(1_000)
    [fired] = h.timer_events()
    assert fired.event_id == ids.timer_event_id(WF, "approval_deadline", timer.due_at)
    check_end(h, "escalated", fired)
    assert path_of(h)[-1] == ("timer.fired:approval_deadline", "awaiting_approval", "escalated")
    audits = h.audits()
    assert len(audits) == 4 and audits[-1].event_type == "timer.fired"


def drive_to(h: WorkflowHarness, state: str) -> None:
    """Take the workflow to the open state ``state`` by its shortest path."""
    send_created(h)
    if state == "classifying":
        return
    outcome = {"drafting_reply": "low_risk", "asking_customer": "needs_info"}
    outcome |= {"waiting_for_customer": "needs_info"}
    answer(h, {"outcome": outcome.get(state, "refund")})
    if state == "waiting_for_customer":
        answer(h)
    elif state in ("awaiting_approval", "revising", "executing_refund"):
        answer(h)
        request = h.approval_request()
        if state == "revising":
            h.send(h.events.approval_denied(request))
        elif state == "executing_refund":
            h.send(h.events.approval_granted(request))
    assert h.state().status == state


@pytest.mark.parametrize("state", CLOSABLE)
def test_ticket_closed_closes_an_open_ticket(h: WorkflowHarness, state: str) -> None:
    drive_to(h, state)
    h.commands()
    h.outputs()
    transitions_before = len(h.state().history)
    closed = h.events.ticket_closed()
    h.send(closed)
    check_end(h, "closed", closed)
    assert path_of(h)[-1] == ("ticket.closed", state, "closed")
    assert len(h.audits()) == transitions_before + 1


def test_ticket_closed_during_refund_execution_is_refused(h: WorkflowHarness) -> None:
    drive_to(h, "executing_refund")
    closed = h.events.ticket_closed()
    h.send(closed)
    [q] = h.quarantined()
    assert (q["reason"], q["event_id"]) == (INVALID_TRANSITION, closed.event_id)
    assert h.state().status == "executing_refund"
    h.outputs()  # the approval request of drive_to
    executed = answer(h)
    check_end(h, "resolved", executed)
    assert [a.decision for a in h.audits()] == ["applied"] * 4 + ["rejected", "applied"]


def test_transient_failures_are_retried_until_the_step_succeeds(h: WorkflowHarness) -> None:
    created = send_created(h)
    first = h.command()
    failed = h.events.step_failed(first, "transient", "LLM timeout")
    h.send(failed)
    second = h.command()
    assert (second.command_id, second.attempt) == (
        ids.command_id(created.event_id, "classify", 2),
        2,
    )
    assert second.step_id == first.step_id  # one logical step: side effects key on it
    assert h.state().retries == {"classify": 1}
    assert second.input == first.input  # the retry sees what the first attempt saw
    assert second.input["context.subject"] == created.payload.subject
    [open_call] = [c for c in h.state().step_calls if c.status == "open"]
    assert not any(k.startswith(("context.", "result.")) for k in open_call.input)
    h.send(h.events.step_completed(second, {"outcome": "low_risk"}))
    assert h.state().retries == {} and h.state().status == "drafting_reply"
    drafted = answer(h)
    check_end(h, "done", drafted)
    audits = h.audits()
    assert [a.decision for a in audits] == ["applied", "retried", "applied", "applied"]
    assert audits[0].event_id == created.event_id


def test_a_step_failing_three_times_fails_the_workflow(h: WorkflowHarness) -> None:
    send_created(h)
    last: Envelope | None = None
    for attempt in (1, 2, 3):
        command = h.command()
        assert command.attempt == attempt
        last = h.events.step_failed(command, "transient")
        h.send(last)
    assert last is not None
    check_end(h, "failed", last, kind="failed")
    assert [e.attempt for e in h.state().errors] == [1, 2, 3]
    assert path_of(h)[-1] == ("step.failed:classify", "classifying", "failed")
    assert len(h.audits()) == 4


def test_a_permanent_failure_fails_the_workflow_at_once(h: WorkflowHarness) -> None:
    drive_to(h, "executing_refund")
    failed = h.events.step_failed(h.command(), "permanent", "card declined")
    h.send(failed)
    h.outputs()
    st = h.state()
    assert (st.status, st.final_outcome, st.errors[-1].message) == (
        "failed",
        "failed",
        "card declined",
    )
    assert [c.status for c in st.step_calls] == ["completed", "completed", "failed"]
    assert len(h.audits()) == 5
