"""Properties of the orchestrator over random event sequences (hypothesis).

Whatever arrives, in whatever order, with duplicates and time jumps: the processor never
raises, every input gets exactly one audit record per decision, the audit names everything
emitted, the state stays within its bounds, and the same inputs give the same results.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentflow.testing import EventFactory, MemoryState, make_context
from processors.contract import Put, Record, Result
from processors.engine import (
    WORKFLOWS,
    AuditRecord,
    OrchestratorProcessor,
    WorkflowState,
    decode_step_command,
)
from processors.engine.state import MAX_HELD, MAX_SEEN_EVENT_IDS
from processors.events import ApprovalRequestedV1, Envelope, decode, decode_record, encode
from tests.unit.flows import TICKETS_V1, engine_registry

# Repeats weight the draw towards actions that move a workflow forward, so random scripts
# reach the deep states (approvals, revisions, refunds) and not only early refusals.
ACTIONS = (
    "created",
    "created",
    "complete",
    "complete",
    "complete",
    "complete",
    "grant",
    "closed",
    "replied",
    "grant",
    "deny",
    "bogus_approval",
    "complete",
    "fail_transient",
    "fail_permanent",
    "duplicate",
    "other_tenant",
    "wait",
)
OUTCOMES = ("low_risk", "refund", "needs_info", "resubmit", "withdraw", "spam")


def run(script: list[tuple[str, int, int]]) -> list[Result]:
    proc = OrchestratorProcessor(engine_registry())
    mem = MemoryState(proc.tables)
    f, foreign = EventFactory("wf-p"), EventFactory("wf-p", tenant="other")
    foreign.count = 1000
    sent: list[Envelope] = []
    commands: list[Any] = []
    requests: list[ApprovalRequestedV1] = []
    results: list[Result] = []
    now, offset = 0, 0
    for action, n, m in script:
        event: Envelope | None = None
        if action == "wait":
            now += (n + 1) * 20 * 60_000 * (10 if n == 5 else 1)
            result = proc.punctuate(mem, make_context(now))
        else:
            if action == "created":
                event = f.ticket_created()
            elif action == "closed":
                event = f.ticket_closed()
            elif action == "replied":
                event = f.customer_replied()
            elif action in ("grant", "deny") and requests:
                request = requests[n % len(requests)]
                grant = action == "grant"
                event = f.approval_granted(request) if grant else f.approval_denied(request)
            elif action == "bogus_approval":
                event = f.approval(f"apr-{n}", "approve_refund", granted=n % 2 == 0)
            elif action == "complete" and commands:
                outcome = {"outcome": OUTCOMES[m]}
                stale = 0 if n < 4 else n % len(commands)  # mostly the newest command
                event = f.step_completed(commands[-1 - stale], outcome)
            elif action.startswith("fail") and commands:
                kind = "transient" if action == "fail_transient" else "permanent"
                event = f.step_failed(commands[-1], kind)
            elif action == "duplicate" and sent:
                event = sent[n % len(sent)]
            elif action == "other_tenant":
                event = foreign.ticket_closed()
            if event is None:
                continue
            sent.append(event)
            now += 1_000
            record = Record("events", 0, offset, event.key, encode(event))
            offset += 1
            result = proc.process(record, mem, make_context(now))
            audits = [e for e in result.emits if e.role == "audit"]
            assert len(audits) >= 1  # every input is accounted for
        mem.apply(result)
        results.append(result)
        check(result, commands, requests)
    return results


def check(result: Result, commands: list[Any], requests: list[ApprovalRequestedV1]) -> None:
    audits = [AuditRecord.decode(e.value or b"") for e in result.emits if e.role == "audit"]
    emitted = {i for a in audits for i in a.emitted_ids}
    for e in result.emits:
        if e.role == "steps":
            cmd = decode_step_command(e.value or b"")
            assert cmd.command_id in emitted
            commands.append(cmd)
        elif e.role == "outputs":
            name, datum = decode_record(e.value or b"")
            assert (datum.get("notice_id") or datum.get("event_id")) in emitted
            if name.endswith("ApprovalRequested"):
                request = decode(e.value or b"")
                assert isinstance(request, ApprovalRequestedV1)
                requests.append(request)
    quarantined = [e for e in result.emits if e.role == "quarantine"]
    assert len(quarantined) == sum(1 for a in audits if a.rejection_reason is not None)
    for w in result.writes:
        if isinstance(w, Put) and w.table == WORKFLOWS:
            state: WorkflowState = w.value
            assert len(state.seen_event_ids) <= MAX_SEEN_EVENT_IDS
            assert len(state.held) <= MAX_HELD
            if state.status is not None:
                assert state.status in TICKETS_V1.states
                if TICKETS_V1.is_terminal(state.status):
                    assert state.held == () and state.timers == ()
                    assert all(c.status != "open" for c in state.step_calls)


SCRIPTS = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(0, 5), st.integers(0, len(OUTCOMES) - 1)),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(SCRIPTS)
def test_any_event_sequence_is_decided_consistently_and_deterministically(
    script: list[tuple[str, int, int]],
) -> None:
    assert run(script) == run(script)
