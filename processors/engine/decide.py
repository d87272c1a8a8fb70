"""The orchestrator's decision function: (state, event) -> Decision. Pure and deterministic.

Order of checks for one event, and why:

1. tenant — an event of another tenant must not touch this workflow at all, not even its
   dedup set (else it could make a real event of this tenant look like a duplicate);
2. dedup — an event id already decided is a ``duplicate``: one audit record, nothing else;
3. not started — a start event starts the newest definition for it; anything else is held
   (``orphan``) until the start event arrives or the registry's orphan timeout passes;
4. answers — approvals must answer a pending approval, step results an open step call,
   timer events an armed timer (refused otherwise: they come from outside the workflow's
   own bookkeeping and must agree with it); a late result for a call the workflow closed
   itself (cancelled or retried) is ``ignored``: recorded, not refused;
5. step failures — transient ones retry up to ``max_attempts``; final ones take the state's
   ``step.failed:<step>`` transition, or go to the definition's failed state;
6. transition — taken if the current state has one; else the event is held if a reachable
   state could take it (it came early), else refused as ``invalid_transition``.
"""

from __future__ import annotations

from processors import reasons
from processors.contract import Headers
from processors.engine import apply
from processors.engine.approvals import (
    approval_refusal,
    audited,
    count_grant,
    counts_toward_quorum,
)
from processors.engine.decision import (
    Decision,
    Rejection,
    TimerRef,
)
from processors.engine.matching import approval_answer, event_keys, payload_fields
from processors.engine.state import (
    MAX_ERRORS,
    MAX_HELD,
    HeldEvent,
    HeldHeader,
    PendingApproval,
    StepCall,
    StepError,
    WorkflowState,
    WorkflowTimer,
    appended,
)
from processors.engine.work import Work
from processors.events import (
    Envelope,
    StepCompletedPayloadV1,
    StepFailedPayloadV1,
    TimerFiredPayloadV1,
    decode,
    encode,
    is_content_type,
)
from workflows import DefinitionRegistry, Transition, WorkflowDefinition
from workflows.definition import START


def decide(
    state: WorkflowState | None,
    event: Envelope,
    offset: int,
    registry: DefinitionRegistry,
    now_ms: int,
    *,
    headers: Headers = (),
    handed_over: bool = False,
) -> Decision:
    """Decide ``event`` (read at input ``offset``) against the workflow's ``state``.

    ``headers`` are the original record's headers, kept with the event if it is held so a
    later quarantine is byte-exact. Held events this decision unblocks are not applied here;
    :func:`process_event` does that.

    ``state`` is left as it was: the decision holds a changed copy. With ``handed_over=True``
    the caller gives ``state`` up (a host's state view returns private copies) and the engine
    changes it in place instead of copying it first.
    """
    work = Work.begin(
        state if handed_over or state is None else state.clone(), event, offset, now_ms
    )
    st = work.state
    if st.started and event.tenant != st.tenant:
        detail = f"event tenant {event.tenant!r} is not the workflow's tenant {st.tenant!r}"
        return work.finish("rejected", Rejection(reasons.TENANT_MISMATCH, detail), write=False)
    if _is_duplicate(st, event):
        return work.finish("duplicate", write=False)
    decision = evaluate(work, registry, headers)
    if decision is None:  # pragma: no cover - only held events are kept without a decision
        raise AssertionError("a new event always gets a decision")
    return decision


def _is_duplicate(st: WorkflowState, event: Envelope) -> bool:
    if st.started:
        return event.event_id in st.seen_event_ids
    # Before the start the workflow's tenant is unknown, so held orphans stay out of the dedup
    # set (one of another tenant must not shadow a real event with the same id): compare with
    # the held events of the same tenant instead.
    return any(h.event_id == event.event_id and h.tenant == event.tenant for h in st.held)


def process_event(
    state: WorkflowState | None,
    event: Envelope,
    offset: int,
    registry: DefinitionRegistry,
    now_ms: int,
    *,
    headers: Headers = (),
    handed_over: bool = False,
) -> tuple[Decision, ...]:
    """:func:`decide`, then apply (in arrival order) the held events it made acceptable."""
    first = decide(state, event, offset, registry, now_ms, headers=headers, handed_over=handed_over)
    if first.kind != "applied" or first.state is None or not first.state.held:
        return (first,)
    return (first, *release_held(first.state, registry, now_ms))


def release_held(
    state: WorkflowState, registry: DefinitionRegistry, now_ms: int
) -> tuple[Decision, ...]:
    """Decide every held event the current state now accepts or can never accept.

    Scans in arrival order and starts over after each applied transition, so an event that
    became acceptable only because an earlier held one was applied is picked up too; events
    still early stay held without a decision.
    """
    out: list[Decision] = []
    current, rescan = state, True
    while rescan:
        rescan = False
        for held in list(current.held):
            work = Work.begin(current.clone(), decode(held.event), held.offset, now_ms)
            work.held = held
            work.state.held = tuple(h for h in work.state.held if h.event_id != held.event_id)
            decision = evaluate(work, registry, ())
            if decision is None or decision.state is None:
                continue
            out.append(decision)
            current = decision.state
            if decision.kind == "applied":
                rescan = True
                break
    return tuple(out)


def evaluate(work: Work, registry: DefinitionRegistry, headers: Headers) -> Decision | None:
    """Steps 3-6 of the module docstring. None: ``work.held`` is still early, keep holding."""
    st, event = work.state, work.event
    if not st.started:
        starting = registry.for_start(event_keys(event, ""))
        if starting is not None:
            return _start(work, starting)
        if work.held is not None:
            return None
        return _hold(work, registry.orphan_timeout_ms, headers)
    d = registry.get(st.definition_name or "", st.definition_version or 0)
    if d is None:
        detail = f"definition {st.definition_name}@{st.definition_version} is not registered"
        return work.finish("rejected", Rejection(reasons.UNKNOWN_DEFINITION, detail))
    work.definition = d
    if event.tenant != st.tenant:  # a held orphan of another tenant, met after the start
        detail = f"event tenant {event.tenant!r} is not the workflow's tenant {st.tenant!r}"
        return work.finish("rejected", Rejection(reasons.TENANT_MISMATCH, detail), keep_id=False)
    status = st.status or ""
    payload = event.payload
    approval: PendingApproval | None = None
    answer = approval_answer(event)
    if answer is not None:
        approval = next(
            (
                a
                for a in st.pending_approvals
                if a.approval_id == answer.approval_id and a.step == answer.step
            ),
            None,
        )
        if approval is None:
            detail = (
                f"{event.event_type} answers approval {answer.approval_id!r} of step "
                f"{answer.step!r}, which is not pending in state {status!r}"
            )
            return work.finish("rejected", Rejection(reasons.UNEXPECTED_APPROVAL, detail))
        work.approval = audited(answer, approval)
        refusal = approval_refusal(event, answer, approval)
        if refusal is not None:
            return work.finish("rejected", refusal)
        if counts_toward_quorum(answer, approval):
            count_grant(event, answer, approval)
            return work.finish("counted")
    call: StepCall | None = None
    if isinstance(payload, StepCompletedPayloadV1 | StepFailedPayloadV1):
        call = st.open_call(payload.command_id)
        if call is None and _closed_by_the_workflow(st, payload):
            apply.count_usage(work, None, payload)  # a late answer's tokens were still spent
            return work.finish("ignored")
        if call is None or call.step != payload.step:
            detail = (
                f"{event.event_type} for step {payload.step!r} names command "
                f"{payload.command_id!r}, which is not an open step call in state {status!r}"
            )
            return work.finish("rejected", Rejection(reasons.UNEXPECTED_STEP_RESULT, detail))
    timer: WorkflowTimer | None = None
    if isinstance(payload, TimerFiredPayloadV1):
        timer = next((t for t in st.timers if t.timer_id == payload.timer_id), None)
        if timer is None:
            detail = f"timer {payload.timer_id!r} ({payload.kind}) is not armed in {status!r}"
            return work.finish("rejected", Rejection(reasons.UNKNOWN_TIMER, detail))
    if isinstance(payload, StepFailedPayloadV1) and call is not None:
        return _step_failed(work, d, call, payload)
    keys = event_keys(event, d.outcome_field)
    transition = d.match(status, keys)
    if transition is not None:
        if call is not None and isinstance(payload, StepCompletedPayloadV1):
            apply.complete_call(work, d, call, payload)
            if apply.over_budget(d, st.usage):
                apply.exceed_budget(work, d)  # instead of the result's transition
                return work.finish("applied")
        if approval is not None:
            st.pending_approvals = tuple(a for a in st.pending_approvals if a is not approval)
        if timer is not None:
            st.timers = tuple(t for t in st.timers if t is not timer)
            work.disarmed.append(apply.deadline_ref(st.workflow_id, timer))
        apply.take(work, d, transition)
        return work.finish("applied")
    if d.is_terminal(status):
        detail = f"{keys[0]!r}: the workflow has finished in state {status!r}"
        return work.finish("rejected", Rejection(reasons.INVALID_TRANSITION, detail))
    if d.accepts_later(status, keys):
        if work.held is not None:
            return None
        return _hold(work, d.pending_timeout_ms, headers)
    detail = f"{keys[0]!r} is not allowed in state {status!r} nor in any state reachable from it"
    return work.finish("rejected", Rejection(reasons.INVALID_TRANSITION, detail))


def _closed_by_the_workflow(
    st: WorkflowState, result: StepCompletedPayloadV1 | StepFailedPayloadV1
) -> bool:
    """True if ``result`` answers a call of this workflow that it closed itself (cancelled,
    or replaced by a retry): a late answer, not bad input."""
    return any(
        c.command_id == result.command_id
        and c.step == result.step
        and c.status in ("cancelled", "retried")
        for c in st.step_calls
    )


def _start(work: Work, d: WorkflowDefinition) -> Decision:
    st, event = work.state, work.event
    transition = d.match(START, event_keys(event, d.outcome_field))
    if transition is None:  # pragma: no cover - validation requires one per start event
        raise AssertionError(f"{d.ident} has no start transition for {event.event_type}")
    work.definition = d
    st.definition_name, st.definition_version = d.name, d.version
    st.tenant = event.tenant
    st.started_at = work.now_ms
    st.started_by = event.actor.id
    st.context = payload_fields(event)
    apply.take(work, d, transition)
    return work.finish("applied")


def _step_failed(
    work: Work, d: WorkflowDefinition, call: StepCall, failure: StepFailedPayloadV1
) -> Decision:
    st = work.state
    error = StepError(
        event_id=work.event.event_id,
        step=call.step,
        attempt=call.attempt,
        error_class=failure.error_class,
        message=failure.error_message[:500],
        at=work.now_ms,
    )
    st.errors = appended(st.errors, error, MAX_ERRORS)
    apply.count_usage(work, call, failure)
    data, call.input = call.input, {}
    if apply.over_budget(d, st.usage):  # no retry: the spending is over
        call.status = "failed"
        apply.exceed_budget(work, d)
        return work.finish("applied")
    if failure.error_class == "transient" and call.attempt < d.max_attempts:
        call.status = "retried"
        apply.issue(work, d, call.step, call.attempt + 1, data, origin=call.causation_id)
        st.retries[call.step] = st.retries.get(call.step, 0) + 1
        return work.finish("retried")
    call.status = "failed"
    status = st.status or ""
    keys = event_keys(work.event, d.outcome_field)
    transition = d.match(status, keys) or Transition(keys[0], status, d.failed_state)
    apply.take(work, d, transition)
    return work.finish("applied")


def _hold(work: Work, timeout_ms: int, headers: Headers) -> Decision:
    """Hold the event (see :func:`_is_duplicate` for why orphans keep out of the dedup set)."""
    st, event = work.state, work.event
    if len(st.held) >= MAX_HELD:
        detail = f"the workflow already holds {MAX_HELD} early events"
        return work.finish("rejected", Rejection(reasons.HOLD_LIMIT, detail))
    held = HeldEvent(
        event_id=event.event_id,
        event_type=event.event_type,
        tenant=event.tenant,
        # Not where it was read: that is an ingress offset live and a workflow-events one on
        # a replay. Its quarantine record, if it expires, names workflow-events at offset -1.
        offset=-1,
        held_at=work.now_ms,
        expires_at=work.now_ms + timeout_ms,
        event=encode(event),
        # The value kept is the Avro encoding, so a content-type header (say, JSON at the
        # ingress) would no longer describe it: drop it, keep the rest (signatures, ...).
        headers=tuple(HeldHeader(key=k, value=v) for k, v in headers if not is_content_type(k)),
    )
    st.held = (*st.held, held)
    work.armed.append(
        TimerRef(held.expires_at, st.workflow_id, event.event_id, "hold", event.event_type)
    )
    return work.finish("held", keep_id=st.started)
