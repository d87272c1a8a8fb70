"""Taking a transition: leave the old state, consume the trigger, enter the new state.

Leaving a state cancels what it started (open step calls, its approvals, its deadlines), so a
late answer to any of them is refused instead of acting on a state the workflow has left.
Entering a state issues the transition's step command, requests the state's approval and arms
its deadlines; entering a terminal state records the outcome and emits a notice.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import ValidationError

from processors.engine import ids
from processors.engine.decision import TimerRef
from processors.engine.matching import (
    as_text,
    event_input,
    flatten,
    result_document,
    step_input,
)
from processors.engine.records import AuditTransition, NoticeKind, StepCommand, WorkflowNotice
from processors.engine.state import (
    MAX_COMPLETED_STEPS,
    MAX_HISTORY,
    MAX_STEP_CALLS,
    CallTool,
    CallUsage,
    HistoryEntry,
    PendingApproval,
    StepCall,
    WorkflowTimer,
    WorkflowUsage,
    appended,
)
from processors.engine.work import Work
from processors.events import (
    Actor,
    ApprovalRequestedPayloadV1,
    ApprovalRequestedV1,
    StepCompletedPayloadV1,
    StepCompletedPayloadV2,
    StepFailedPayloadV1,
    StepFailedPayloadV2,
    default_registry,
    model_for,
    proposal_hash,
)
from workflows import Transition, WorkflowDefinition
from workflows.definition import START

ENGINE_SOURCE = "agentflow"
ENGINE_ACTOR = Actor(id="agentflow", kind="system")


def deadline_ref(workflow_id: str, timer: WorkflowTimer) -> TimerRef:
    """The ``timers`` index entry of an armed deadline."""
    return TimerRef(timer.due_at, workflow_id, timer.timer_id, "deadline", timer.name)


def take(work: Work, d: WorkflowDefinition, t: Transition) -> None:
    """Apply transition ``t`` (its trigger already checked and consumed) to ``work``."""
    st = work.state
    before = st.status
    _leave(work)
    st.status = t.to_state
    entry = HistoryEntry(
        event_id=work.event.event_id,
        event_type=work.event.event_type,
        trigger=t.on,
        from_state=before,
        to_state=t.to_state,
        step=t.step,
        at=work.now_ms,
    )
    st.history = appended(st.history, entry, MAX_HISTORY)
    work.transition = AuditTransition(
        trigger=t.on,
        from_state=before if before is not None else START,
        to_state=t.to_state,
        step=t.step,
    )
    if t.step is not None:
        issue(work, d, t.step, 1, event_input(work.event, t.to_state))
    _arm_deadlines(work, d, t.to_state)
    _request_approval(work, d, t.to_state)
    if d.is_terminal(t.to_state):
        _finish_workflow(work, d, t.to_state)


def issue(
    work: Work,
    d: WorkflowDefinition,
    step: str,
    attempt: int,
    event_part: dict[str, str],
    origin: str | None = None,
) -> None:
    """Issue attempt ``attempt`` of ``step``; its id derives from the event that caused the
    step, ``origin`` (the current event for a first attempt).

    A retry keeps its first attempt's ``causation_id``, so every attempt shares one logical
    step id (:func:`~processors.engine.ids.step_id`), which keys the step's side effects.
    ``event_part`` is the causing event's part of the input (:func:`event_input`); the open
    call keeps just that, and the workflow's context and results are added to the command.
    """
    st = work.state
    assert st.tenant is not None and st.definition_version is not None
    cause = origin if origin is not None else work.event.event_id
    cmd = StepCommand(
        command_id=ids.command_id(cause, step, attempt),
        workflow_id=st.workflow_id,
        tenant=st.tenant,
        definition_name=d.name,
        definition_version=d.version,
        step=step,
        attempt=attempt,
        causation_id=cause,
        issued_at=work.now_ms,
        input=step_input(event_part, st.context, st.step_results),
    )
    work.commands.append(cmd)
    if attempt == 1:
        st.retries.pop(step, None)
    call = StepCall(
        command_id=cmd.command_id,
        step=step,
        attempt=attempt,
        causation_id=cmd.causation_id,
        issued_at=work.now_ms,
        status="open",
        input=event_part,
    )
    st.step_calls = (*st.step_calls, call)
    _trim_calls(work)


def complete_call(
    work: Work, d: WorkflowDefinition, call: StepCall, result: StepCompletedPayloadV1
) -> None:
    """Mark ``call`` completed with its result (the trigger of a step.completed), keep what
    it cost and called (v2), and publish the result if the step says so: all once, since a
    repeated result is dropped as a duplicate."""
    st = work.state
    spec = d.step(call.step)
    if spec is not None and spec.publishes is not None:
        _publish(work, spec.publishes, result_document(result.result_json))
    call.status = "completed"
    call.input = {}
    count_usage(work, call, result)
    st.step_results[call.step] = result.result_json
    st.completed_steps = appended(st.completed_steps, call.step, MAX_COMPLETED_STEPS)
    st.retries.pop(call.step, None)


def _publish(work: Work, event_type: str, result: dict[str, object]) -> None:
    """The step's result as a ``event_type`` event on the outputs topic (an agent output), its
    id derived from the step.completed. A result without the payload's fields (a foreign
    worker's; the runner validates against the output type, which has them) is not published."""
    st = work.state
    entry = default_registry().latest(event_type)
    model = model_for(event_type, entry.version) if entry is not None else None
    if model is None or st.tenant is None:
        return
    payload_type = model.model_fields["payload"].annotation
    fields = getattr(payload_type, "model_fields", {})
    try:
        event = model.model_validate(
            {
                "event_id": ids.derive_id(work.event.event_id, f"publish:{event_type}"),
                "occurred_at": work.now_ms,
                "source": ENGINE_SOURCE,
                "tenant": st.tenant,
                "actor": ENGINE_ACTOR,
                "workflow_id": st.workflow_id,
                "causation_id": work.event.event_id,
                "payload": {k: as_text(v) for k, v in result.items() if k in fields},
            }
        )
    except ValidationError:
        return
    work.outputs.append(event)


def count_usage(
    work: Work, call: StepCall | None, result: StepCompletedPayloadV1 | StepFailedPayloadV1
) -> None:
    """Keep what a step result says the step cost and called on its ``call`` (if it is still
    the workflow's) and add the cost to the workflow's totals. A failed or late result counts
    too: its tokens were spent. Once per result, since a repeated result is a duplicate."""
    if not isinstance(result, StepCompletedPayloadV2 | StepFailedPayloadV2):
        return
    usage = CallUsage(**result.usage.model_dump()) if result.usage else None
    if call is not None:
        call.tool_calls = tuple(CallTool(**c.model_dump()) for c in result.tool_calls)
        call.usage = usage
    if usage is not None:
        _add_usage(work.state.usage, usage)


#: The trigger a budget's transition is recorded under (history and audit).
BUDGET_TRIGGER = "budget.exceeded"


def over_budget(d: WorkflowDefinition, total: WorkflowUsage) -> bool:
    """True if the workflow's spending has passed its definition's budget."""
    budget = d.budget
    if budget is None:
        return False
    tokens = total.input_tokens + total.output_tokens
    if budget.max_tokens is not None and tokens > budget.max_tokens:
        return True
    spent = Decimal(total.cost_usd or "0")
    return budget.max_cost_usd is not None and spent > Decimal(budget.max_cost_usd)


def exceed_budget(work: Work, d: WorkflowDefinition) -> None:
    """Move the workflow to its budget's ``exceeded_state`` (terminal): it leaves its state as
    any transition does, so open calls are cancelled and no further step is issued."""
    assert d.budget is not None
    take(work, d, Transition(BUDGET_TRIGGER, work.state.status or START, d.budget.exceeded_state))


def _add_usage(total: WorkflowUsage, usage: CallUsage) -> None:
    total.model_steps += 1
    total.requests += usage.requests
    total.input_tokens += usage.input_tokens
    total.output_tokens += usage.output_tokens
    if usage.cost_usd is not None:  # decimal text: no binary rounding in a running sum
        total.cost_usd = str(Decimal(total.cost_usd or "0") + Decimal(usage.cost_usd))


def _trim_calls(work: Work) -> None:
    # Closed calls only matter for the record; open ones are needed to accept results.
    calls = work.state.step_calls
    excess = len(calls) - MAX_STEP_CALLS
    if excess > 0:
        closed = [c for c in calls if c.status != "open"][:excess]
        work.state.step_calls = tuple(c for c in calls if not any(c is x for x in closed))


def _leave(work: Work) -> None:
    st = work.state
    for call in st.step_calls:
        if call.status == "open":
            call.status = "cancelled"
            call.input = {}
    for timer in st.timers:
        work.disarmed.append(deadline_ref(st.workflow_id, timer))
    st.timers = ()
    st.pending_approvals = ()


def _arm_deadlines(work: Work, d: WorkflowDefinition, state_name: str) -> None:
    st = work.state
    approval = d.approval_for(state_name)
    for deadline in d.deadlines_for(state_name):
        subject = None
        if approval is not None and approval.deadline == deadline.name:
            subject = ids.approval_id(work.event.event_id, approval.step)
        timer = WorkflowTimer(
            timer_id=ids.timer_id(work.event.event_id, deadline.name),
            name=deadline.name,
            state=state_name,
            due_at=work.now_ms + deadline.after_ms,
            subject_id=subject,
            causation_id=work.event.event_id,
        )
        st.timers = (*st.timers, timer)
        work.armed.append(deadline_ref(st.workflow_id, timer))


def _request_approval(work: Work, d: WorkflowDefinition, state_name: str) -> None:
    approval = d.approval_for(state_name)
    if approval is None:
        return
    st = work.state
    assert st.tenant is not None
    approval_id = ids.approval_id(work.event.event_id, approval.step)
    due = next((t.due_at for t in st.timers if t.name == approval.deadline), None)
    # What the reviewer may change: the result of the step that led here, flattened.
    proposal: dict[str, str] = {}
    if isinstance(work.event.payload, StepCompletedPayloadV1):
        proposal = flatten(result_document(work.event.payload.result_json))
    asking = {a for a in (st.started_by, work.event.actor.id) if a is not None}
    summary = approval.summary or f"Approve {approval.step}"
    st.pending_approvals = (
        *st.pending_approvals,
        PendingApproval(
            approval_id=approval_id,
            step=approval.step,
            state=state_name,
            required_role=approval.required_role,
            requested_at=work.now_ms,
            due_at=due,
            causation_id=work.event.event_id,
            proposal_hash=proposal_hash(proposal),
            requested_by=tuple(sorted(asking)),
            quorum=approval.quorum,
            proposal=proposal,
            summary=summary,
        ),
    )
    work.outputs.append(
        ApprovalRequestedV1(
            event_id=ids.approval_request_event_id(work.event.event_id, approval.step),
            occurred_at=work.now_ms,
            source=ENGINE_SOURCE,
            tenant=st.tenant,
            actor=ENGINE_ACTOR,
            workflow_id=st.workflow_id,
            causation_id=work.event.event_id,
            payload=ApprovalRequestedPayloadV1(
                approval_id=approval_id,
                step=approval.step,
                subject=f"{d.name}:{st.workflow_id}",
                summary=summary,
                proposal=proposal,
                required_role=approval.required_role,
                due_at=due,
            ),
        )
    )


def _finish_workflow(work: Work, d: WorkflowDefinition, state_name: str) -> None:
    st = work.state
    assert st.tenant is not None
    st.final_outcome = state_name
    st.completed_at = work.now_ms
    kind: NoticeKind = "workflow.failed" if state_name == d.failed_state else "workflow.completed"
    work.outputs.append(
        WorkflowNotice(
            notice_id=ids.notice_id(work.event.event_id, kind),
            kind=kind,
            workflow_id=st.workflow_id,
            tenant=st.tenant,
            definition_name=d.name,
            definition_version=d.version,
            status=state_name,
            outcome=state_name,
            causation_id=work.event.event_id,
            emitted_at=work.now_ms,
        )
    )
