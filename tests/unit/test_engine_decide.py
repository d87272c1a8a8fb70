"""decide() / process_event(): dedup, refusals, holding early events, approvals, retries."""

from __future__ import annotations

import msgspec

from agentflow.testing import EventFactory
from processors.engine import (
    Decision,
    WorkflowState,
    decide,
    ids,
    process_event,
)
from processors.engine.state import MAX_HELD, as_plain
from processors.events import (
    Actor,
    ApprovalRequestedV1,
    Envelope,
    TimerFiredPayloadV1,
    TimerFiredV1,
)
from processors.reasons import (
    HOLD_LIMIT,
    INVALID_TRANSITION,
    REVIEWER_NOT_PERMITTED,
    TENANT_MISMATCH,
    UNEXPECTED_APPROVAL,
    UNEXPECTED_STEP_RESULT,
    UNKNOWN_DEFINITION,
    UNKNOWN_TIMER,
)
from tests.unit.flows import engine_registry
from workflows import START, DefinitionRegistry, Transition, WorkflowDefinition

REG = engine_registry()


class Flow:
    """Feeds events to process_event, keeping the state and an offset counter."""

    def __init__(self, workflow_id: str = "wf-1", registry: DefinitionRegistry = REG) -> None:
        self.f = EventFactory(workflow_id)
        self.registry = registry
        self.state: WorkflowState | None = None
        self.offset = 0
        self.now = 1_000

    def send(self, event: Envelope) -> tuple[Decision, ...]:
        decisions = process_event(self.state, event, self.offset, self.registry, self.now)
        self.offset += 1
        for d in decisions:
            if d.state is not None:
                self.state = d.state
        return decisions

    def one(self, event: Envelope) -> Decision:
        [decision] = self.send(event)
        return decision

    @property
    def status(self) -> str | None:
        return self.state.status if self.state else None


def to_awaiting_approval(flow: Flow) -> ApprovalRequestedV1:
    classify = flow.one(flow.f.ticket_created()).commands[0]
    propose = flow.one(flow.f.step_completed(classify, {"outcome": "refund"})).commands[0]
    d = flow.one(flow.f.step_completed(propose, {"amount_minor": 4999}))
    [request] = d.outputs
    assert isinstance(request, ApprovalRequestedV1)
    return request


def test_should_start_a_workflow_and_issue_its_first_step() -> None:
    flow = Flow()
    created = flow.f.ticket_created()
    d = flow.one(created)
    assert d.kind == "applied" and flow.status == "classifying"
    [cmd] = d.commands
    assert cmd.command_id == ids.command_id(created.event_id, "classify", 1)
    assert (cmd.step, cmd.attempt, cmd.causation_id) == ("classify", 1, created.event_id)
    assert cmd.input["context.subject"] == "Charged twice"
    assert d.audit.transition is not None and d.audit.transition.from_state == START
    assert d.audit.emitted_ids == (cmd.command_id,)
    assert d.audit.audit_id == ids.derive_id(created.event_id, "audit:applied")


def test_should_leave_a_given_state_alone_and_edit_a_handed_over_one() -> None:
    flow = Flow()
    [command] = flow.one(flow.f.ticket_created()).commands
    given = flow.state
    assert given is not None
    snapshot = as_plain(given)
    result = flow.f.step_completed(command, {"outcome": "refund"})
    copied = decide(given, result, 1, REG, 3_000)
    assert copied.kind == "applied" and copied.state is not given
    assert as_plain(given) == snapshot
    handed = decide(given, result, 1, REG, 3_000, handed_over=True)
    assert handed.state is not None and copied.state is not None
    assert handed.state is given and given.status == copied.state.status == "proposing_refund"
    assert as_plain(handed.state) == as_plain(copied.state)


def test_should_answer_a_duplicate_with_an_audit_record_only() -> None:
    flow = Flow()
    created = flow.f.ticket_created()
    flow.one(created)
    before = flow.state
    d = decide(before, created, 7, REG, 2_000)
    assert d.kind == "duplicate"
    assert d.state is None and d.commands == () and d.outputs == () and d.rejection is None
    assert d.audit.decision == "duplicate"
    # Told apart by the time decided at, which the log records, not by an offset.
    assert d.audit.audit_id == ids.derive_id(created.event_id, "audit:duplicate:2000")
    assert flow.state == before  # the input state was not mutated


def test_should_refuse_an_invalid_transition_naming_state_and_event() -> None:
    flow = Flow()
    classify = flow.one(flow.f.ticket_created()).commands[0]
    flow.one(flow.f.step_completed(classify, {"outcome": "low_risk"}))
    d = flow.one(flow.f.customer_replied())  # drafting_reply cannot reach a reply-taking state
    assert d.kind == "rejected" and d.rejection is not None
    assert d.rejection.reason == INVALID_TRANSITION
    assert "'customer.replied'" in d.rejection.detail and "'drafting_reply'" in d.rejection.detail
    assert d.state is not None and d.state.status == "drafting_reply"
    assert d.audit.rejection_reason == INVALID_TRANSITION


def test_should_refuse_an_event_of_another_tenant_without_touching_the_workflow() -> None:
    flow = Flow()
    flow.one(flow.f.ticket_created())
    intruder = EventFactory("wf-1", tenant="evil")
    closed = intruder.ticket_closed()
    d = decide(flow.state, closed, 5, REG, 2_000)
    assert d.rejection is not None and d.rejection.reason == TENANT_MISMATCH
    assert d.state is None  # not even the dedup set changes
    assert d.audit.tenant == "acme" and "'evil'" in d.rejection.detail


def test_should_hold_an_orphan_and_apply_it_in_order_once_the_start_event_arrives() -> None:
    flow = Flow("wf-ops")
    deployed, resolved = flow.f.deployment_completed(), flow.f.alert_resolved()
    assert flow.one(deployed).kind == "held"
    assert flow.one(resolved).kind == "held"
    assert flow.state is not None and not flow.state.started
    assert [h.event_id for h in flow.state.held] == [deployed.event_id, resolved.event_id]
    # alert.fired starts the workflow; both held events are still early in gathering_context
    [started] = flow.send(flow.f.alert_fired())
    gather = started.commands[0]
    # back in waiting: deployment.completed applies first; alert.resolved waits again ...
    done, released = flow.send(flow.f.step_completed(gather))
    assert (done.kind, released.kind, released.event.event_id) == (
        "applied",
        "applied",
        deployed.event_id,
    )
    assert released.offset == -1  # a held event keeps no offset: a replay reads another topic
    assert flow.status == "correlating"
    correlate = released.commands[0]
    # ... until the correlation is done
    _, resolved_now = flow.send(flow.f.step_completed(correlate))
    assert resolved_now.event.event_id == resolved.event_id
    assert flow.status == "drafting_postmortem" and flow.state is not None
    assert flow.state.held == ()


def test_should_hold_ticket_closed_that_comes_before_ticket_created() -> None:
    flow = Flow()
    closed = flow.f.ticket_closed()
    held = flow.one(closed)
    assert held.kind == "held" and held.armed[0].kind == "hold"
    started, applied = flow.send(flow.f.ticket_created())
    assert started.audit.status_after == "classifying"
    assert applied.event.event_id == closed.event_id
    assert applied.audit.transition is not None
    assert (applied.audit.status_before, applied.audit.status_after) == ("classifying", "closed")
    assert applied.disarmed[-1] == held.armed[0]  # its expiry is cancelled
    assert flow.state is not None and flow.state.final_outcome == "closed"
    assert [c.status for c in flow.state.step_calls] == ["cancelled"]


def test_should_refuse_held_events_that_can_never_apply_once_the_workflow_ends() -> None:
    flow = Flow()
    replied, closed = flow.f.customer_replied(), flow.f.ticket_closed()
    flow.send(replied)
    flow.send(closed)
    _, closing, refused = flow.send(flow.f.ticket_created())
    assert closing.event.event_id == closed.event_id and flow.status == "closed"
    assert refused.event.event_id == replied.event_id
    assert refused.rejection is not None and refused.rejection.reason == INVALID_TRANSITION
    assert refused.held is not None and refused.held.event_id == replied.event_id


def test_should_refuse_a_held_orphan_of_another_tenant_after_the_start() -> None:
    flow = Flow()
    other = EventFactory("wf-1", tenant="other")
    other.count = 100  # ids that differ from the real ones
    foreign = other.ticket_closed()
    flow.send(foreign)
    _, refused = flow.send(flow.f.ticket_created())
    assert refused.rejection is not None and refused.rejection.reason == TENANT_MISMATCH
    assert flow.state is not None and foreign.event_id not in flow.state.seen_event_ids
    assert flow.status == "classifying"


def test_should_not_let_a_foreign_orphan_shadow_a_real_event_with_the_same_id() -> None:
    flow = Flow()
    foreign = EventFactory("wf-1", tenant="other").ticket_closed()
    real = flow.f.ticket_created()
    assert foreign.event_id == real.event_id
    assert flow.one(foreign).kind == "held"
    assert flow.one(foreign).kind == "duplicate"  # the same orphan again
    started, refused = flow.send(real)
    assert started.kind == "applied" and flow.status == "classifying"
    assert refused.rejection is not None and refused.rejection.reason == TENANT_MISMATCH
    assert flow.state is not None and flow.state.seen_event_ids == (real.event_id,)


def test_should_accept_the_pending_approval_and_refuse_any_other() -> None:
    flow = Flow()
    request = to_awaiting_approval(flow)
    assert request.payload.approval_id == flow.state.pending_approvals[0].approval_id  # type: ignore[union-attr]
    wrong = flow.one(flow.f.approval("apr-nope", "approve_refund"))
    assert wrong.rejection is not None and wrong.rejection.reason == UNEXPECTED_APPROVAL
    wrong_step = flow.one(flow.f.approval(request.payload.approval_id, "other_step"))
    assert wrong_step.rejection is not None
    assert wrong_step.rejection.reason == UNEXPECTED_APPROVAL
    granted = flow.one(flow.f.approval_granted(request))
    assert granted.kind == "applied" and flow.status == "executing_refund"
    assert flow.state is not None and flow.state.pending_approvals == ()
    late = flow.one(flow.f.approval_denied(request))  # answered already
    assert late.rejection is not None and late.rejection.reason == UNEXPECTED_APPROVAL


def _approval_by(request: ApprovalRequestedV1, flow: Flow, actor: Actor, reviewer: str) -> Envelope:
    granted = flow.f.approval_granted(request)
    payload = granted.payload.model_copy(update={"reviewer_id": reviewer})
    return granted.model_copy(update={"actor": actor, "payload": payload})


def test_should_refuse_approval_from_reviewer_without_the_required_role() -> None:
    flow = Flow()
    request = to_awaiting_approval(flow)
    clerk = Actor(id="u-clerk", kind="user", roles=["agent", "globex:refund_approver"])
    d = flow.one(_approval_by(request, flow, clerk, "u-clerk"))
    assert d.rejection is not None and d.rejection.reason == REVIEWER_NOT_PERMITTED
    assert "lacks role 'refund_approver'" in d.rejection.detail
    assert flow.status == "awaiting_approval"


def test_should_refuse_approval_whose_reviewer_is_not_the_actor() -> None:
    flow = Flow()
    request = to_awaiting_approval(flow)
    boss = Actor(id="u-boss", kind="user", roles=["refund_approver"])
    d = flow.one(_approval_by(request, flow, boss, "u-someone-else"))
    assert d.rejection is not None and d.rejection.reason == REVIEWER_NOT_PERMITTED
    assert flow.status == "awaiting_approval"


def test_should_accept_approval_from_reviewer_holding_the_role_for_this_tenant() -> None:
    flow = Flow()
    request = to_awaiting_approval(flow)
    lead = Actor(id="u-lead", kind="user", roles=["acme:refund_approver"])
    d = flow.one(_approval_by(request, flow, lead, "u-lead"))
    assert d.kind == "applied" and flow.status == "executing_refund"


def test_should_refuse_an_approval_before_one_was_requested() -> None:
    flow = Flow()
    flow.one(flow.f.ticket_created())
    d = flow.one(flow.f.approval("apr-1", "approve_refund"))
    assert d.rejection is not None and d.rejection.reason == UNEXPECTED_APPROVAL


def test_should_retry_a_transient_failure_then_fail_the_workflow() -> None:
    flow = Flow()
    first = flow.one(flow.f.ticket_created()).commands[0]
    failure = flow.f.step_failed(first, "transient")
    retried = flow.one(failure)
    assert retried.kind == "retried" and flow.status == "classifying"
    [second] = retried.commands
    # a retry keeps the step's cause: a new command id, the same logical step id
    assert second.command_id == ids.command_id(first.causation_id, "classify", 2)
    assert second.causation_id == first.causation_id != failure.event_id
    assert second.step_id == first.step_id == ids.step_id(first.causation_id, "classify")
    assert (second.attempt, second.input) == (2, first.input)
    assert flow.state is not None and flow.state.retries == {"classify": 1}
    third = flow.one(flow.f.step_failed(second, "transient")).commands[0]
    assert third.attempt == 3 and flow.state.retries == {"classify": 2}
    assert len({first.command_id, second.command_id, third.command_id}) == 3
    assert third.step_id == first.step_id
    # a late answer to a replaced attempt is recorded and changes nothing
    stale = flow.one(flow.f.step_completed(first, {"outcome": "low_risk"}))
    assert (stale.kind, stale.rejection, stale.commands) == ("ignored", None, ())
    assert flow.status == "classifying" and not stale.quarantine
    final = flow.one(flow.f.step_failed(third, "transient"))
    assert final.kind == "applied" and flow.status == "failed"
    assert final.audit.transition is not None
    assert final.audit.transition.trigger == "step.failed:classify"
    [notice] = final.outputs
    assert notice.kind == "workflow.failed"  # type: ignore[union-attr]
    assert [e.attempt for e in flow.state.errors] == [1, 2, 3]


def test_should_fail_at_once_on_a_permanent_error() -> None:
    flow = Flow()
    first = flow.one(flow.f.ticket_created()).commands[0]
    d = flow.one(flow.f.step_failed(first, "permanent", "no such ticket"))
    assert d.kind == "applied" and d.commands == () and flow.status == "failed"
    assert flow.state is not None and flow.state.errors[0].message == "no such ticket"


def test_should_take_a_step_failed_transition_when_the_definition_has_one() -> None:
    d = WorkflowDefinition(
        name="careful",
        version=1,
        states=("working", "fallback", "done", "failed"),
        start_events=("ticket.created",),
        terminal_states=("done", "failed"),
        transitions=(
            Transition("ticket.created", START, "working", step="work"),
            Transition("step.completed:work", "working", "done"),
            Transition("step.failed:work", "working", "fallback", step="manual"),
            Transition("step.completed:manual", "fallback", "done"),
        ),
        max_attempts=1,
    )
    flow = Flow(registry=DefinitionRegistry([d]))
    work = flow.one(flow.f.ticket_created()).commands[0]
    fell = flow.one(flow.f.step_failed(work, "transient"))
    assert flow.status == "fallback" and fell.commands[0].step == "manual"


def test_should_ignore_the_answer_to_a_call_cancelled_in_the_same_decision_cycle() -> None:
    """ticket.closed held, then ticket.created: classify is issued and at once cancelled by
    the released close. The worker's answer is late, not bad input: no quarantine."""
    flow = Flow()
    flow.one(flow.f.ticket_closed())
    started, _closed = flow.send(flow.f.ticket_created())
    [classify] = started.commands
    assert flow.status == "closed"
    answer = flow.f.step_completed(classify, {"outcome": "refund"})
    d = flow.one(answer)
    assert (d.kind, d.rejection, d.commands, d.outputs) == ("ignored", None, (), ())
    assert d.audit.decision == "ignored" and d.audit.rejection_reason is None
    assert d.state is not None and answer.event_id in d.state.seen_event_ids
    assert flow.status == "closed"
    assert flow.one(answer).kind == "duplicate"


def test_should_refuse_a_result_for_an_unknown_command() -> None:
    flow = Flow()
    cmd = flow.one(flow.f.ticket_created()).commands[0]
    forged = msgspec.structs.replace(cmd, command_id="forged")
    d = flow.one(flow.f.step_completed(forged, {"outcome": "refund"}))
    assert d.rejection is not None and d.rejection.reason == UNEXPECTED_STEP_RESULT


def test_should_refuse_a_timer_that_is_not_armed() -> None:
    flow = Flow()
    flow.one(flow.f.ticket_created())
    fake = TimerFiredV1(
        event_id="t-1",
        occurred_at=1,
        source="x",
        tenant="acme",
        actor=flow.f.ticket_created().actor,
        workflow_id="wf-1",
        payload=TimerFiredPayloadV1(timer_id="nope", kind="approval_deadline", due_at=1),
    )
    d = flow.one(fake)
    assert d.rejection is not None and d.rejection.reason == UNKNOWN_TIMER


def test_should_refuse_events_of_a_workflow_whose_definition_is_gone() -> None:
    flow = Flow()
    flow.one(flow.f.ticket_created())
    d = decide(flow.state, flow.f.ticket_closed(), 9, DefinitionRegistry(), 5)
    assert d.rejection is not None and d.rejection.reason == UNKNOWN_DEFINITION


def test_should_bound_the_number_of_held_events() -> None:
    flow = Flow()
    for _ in range(MAX_HELD):
        assert flow.one(flow.f.customer_replied()).kind == "held"
    d = flow.one(flow.f.customer_replied())
    assert d.rejection is not None and d.rejection.reason == HOLD_LIMIT


def test_should_decide_identically_twice() -> None:
    def run() -> list[Decision]:
        flow = Flow()
        out: list[Decision] = []
        request = to_awaiting_approval(flow)
        out.extend(flow.send(flow.f.approval_granted(request)))
        return out

    assert run() == run()


def test_clone_is_an_equal_copy_sharing_nothing_mutable() -> None:
    flow = Flow()
    to_awaiting_approval(flow)
    state = flow.state
    assert state is not None and state.timers and state.pending_approvals and state.step_calls
    copy = state.clone()
    assert copy == state and as_plain(copy) == as_plain(state)
    pairs = [
        (copy.step_calls, state.step_calls),
        (copy.step_calls[0], state.step_calls[0]),
        (copy.step_calls[0].input, state.step_calls[0].input),
        (copy.timers, state.timers),
        (copy.history, state.history),
        (copy.context, state.context),
        (copy.step_results, state.step_results),
        (copy.seen_event_ids, state.seen_event_ids),
    ]
    assert all(a is not b for a, b in pairs)
    copy.step_calls[0].status = "cancelled"
    copy.timers = ()
    assert state.step_calls[0].status != "cancelled" and state.timers
