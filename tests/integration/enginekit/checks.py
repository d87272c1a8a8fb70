"""Checking a finished run against its plans: :func:`collect` reads back everything it
committed, :func:`check_run` holds it to the plans, and ``comparable_*`` strip what differs
between two runs of the same plans (clocks, offsets)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from processors.engine import AuditRecord, WorkflowState, decode_step_command
from processors.events import Envelope, decode
from processors.quarantine import read_quarantine
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import PATHS, definition_of
from tests.integration.enginekit.readers import (
    Msg,
    decode_output,
    final_states,
    output_id,
    read_topics,
)
from tests.integration.enginekit.run import EngineRun


@dataclass
class Collected:
    """Everything the run committed, read back after it finished."""

    states: dict[str, WorkflowState]
    audits: list[AuditRecord]
    steps: list[Msg]
    outputs: list[Msg]
    events: list[Msg]
    quarantine: list[Msg]


def collect(dep: EngineDeployment) -> Collected:
    topics = [dep.audit, dep.steps, dep.outputs, dep.events, dep.quarantine]
    read = read_topics(dep.bootstrap, topics, dep.partitions)
    return Collected(
        states=final_states(dep),
        audits=[AuditRecord.decode(m.value or b"") for m in read[dep.audit]],
        steps=read[dep.steps],
        outputs=read[dep.outputs],
        events=read[dep.events],
        quarantine=read[dep.quarantine],
    )


def command_ids(got: Collected) -> list[str]:
    return [decode_step_command(m.value or b"").command_id for m in got.steps]


def output_ids(got: Collected) -> list[str]:
    return [output_id(m.value or b"") for m in got.outputs]


def duplicated(ids: Iterable[str]) -> list[str]:
    return sorted(i for i, c in Counter(ids).items() if c > 1)


def check_run(run: EngineRun, got: Collected) -> None:
    """Every plan reached its final state with exactly its planned decisions; no output id
    (step command, output event or notice, audit record) was committed twice; the events
    topic holds each ingress event exactly as often as it was sent."""
    plans = run.plans
    # No output id twice.
    commands = command_ids(got)
    assert duplicated(commands) == [], "step command ids committed twice"
    assert duplicated(output_ids(got)) == [], "output ids committed twice"
    assert duplicated(a.audit_id for a in got.audits) == [], "audit ids committed twice"
    # Every workflow's final state.
    assert set(got.states) == set(plans), (
        sorted(set(plans) - set(got.states))[:5],
        sorted(set(got.states) - set(plans))[:5],
    )
    wrong = []
    for wf, p in plans.items():
        st = got.states[wf]
        path = tuple(h.to_state for h in st.history)
        seen = (st.status, st.final_outcome, list(st.completed_steps), st.definition_name, path)
        want = (p.status, p.status, p.completed_steps, definition_of(p.kind), PATHS[p.kind])
        clean = (
            not st.held
            and not st.pending_approvals
            and not st.timers
            and all(c.status != "open" for c in st.step_calls)
        )
        if seen != want or not clean or st.completed_at is None:
            wrong.append((wf, p.kind, seen, want, clean))
    assert wrong == [], f"{len(wrong)} workflows ended wrong, e.g. {wrong[:3]}"
    # Exactly the planned decisions, per workflow.
    decisions: dict[str, Counter[str]] = {wf: Counter() for wf in plans}
    for a in got.audits:
        decisions[a.workflow_id][a.decision] += 1
    off = [(wf, plans[wf].kind, dict(c), dict(plans[wf].decisions))
           for wf, c in decisions.items() if c != plans[wf].decisions]  # fmt: skip
    assert off == [], f"{len(off)} workflows with other decisions, e.g. {off[:3]}"
    assert len(got.audits) == run.expected_audits
    # One notice per workflow, one command per issued step.
    notices = [o for o in (decode_output(m.value or b"") for m in got.outputs)
               if not isinstance(o, Envelope)]  # fmt: skip
    assert sorted(n.workflow_id for n in notices) == sorted(plans)
    assert {n.workflow_id: n.status for n in notices} == {wf: p.status for wf, p in plans.items()}
    issued = [c for a in got.audits for c in a.commands]
    assert sorted(issued) == sorted(commands)
    # Quarantine: only the refusals the plans predict.
    reasons: dict[str, Counter[str]] = {wf: Counter() for wf in plans}
    for m in got.quarantine:
        body = read_quarantine(m.value or b"")
        reasons[(m.key or b"").decode()][body["reason"]] += 1
    off_q = [(wf, dict(c)) for wf, c in reasons.items() if c != plans[wf].quarantine]
    assert off_q == [], f"unexpected quarantine, e.g. {off_q[:3]}"
    # The events topic: each SDK event as often as sent, each step result once.
    event_ids = Counter(decode(m.value or b"").event_id for m in got.events)
    sent = run.produced + Counter(f"step-{c}" for c in commands)
    assert event_ids == sent, (
        sorted((event_ids - sent).items())[:5],
        sorted((sent - event_ids).items())[:5],
    )


def comparable_state(st: WorkflowState) -> tuple[Any, ...]:
    """What of a final state is deterministic: no clock, no input offsets."""
    history = tuple(
        (h.event_id, h.event_type, h.trigger, h.from_state, h.to_state, h.step) for h in st.history
    )
    return (st.status, tuple(st.completed_steps), st.final_outcome, history)


def comparable_audit(a: AuditRecord) -> tuple[Any, ...]:
    """An audit record without its wall-clock field (a duplicate's audit id hashes the time
    it was decided at, so it goes too)."""
    dump = msgspec.to_builtins(a)
    del dump["decided_at"]
    if a.decision == "duplicate":
        dump.pop("audit_id")
    return tuple(sorted((k, repr(v)) for k, v in dump.items()))
