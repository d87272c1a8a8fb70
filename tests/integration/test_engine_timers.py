"""Durable timers on the real broker: an approval deadline that comes due while the worker is
down fires exactly once when it is back, and never again on later restarts."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from processors.engine import TimerRefCodec
from processors.events import TimerFiredV1, decode
from tests.integration.enginekit.checks import collect
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import plan
from tests.integration.enginekit.readers import Msg, final_states, read_topic
from tests.integration.enginekit.run import EngineRun
from tests.integration.short_deadlines import APPROVAL_DEADLINE_MS
from tests.integration.workers import Worker, run_cli

pytestmark = pytest.mark.timeout(300)

WORKFLOWS = "tests.integration.short_deadlines:registry"
TIMER_TRIGGER = "timer.fired:approval_deadline"


def _timer_events(dep: EngineDeployment) -> list[TimerFiredV1]:
    return _timer_events_from(read_topic(dep.bootstrap, dep.events))


def _timer_events_from(msgs: list[Msg]) -> list[TimerFiredV1]:
    events = [decode(m.value or b"") for m in msgs]
    return [e for e in events if isinstance(e, TimerFiredV1)]


def _live_timers(dep: EngineDeployment) -> dict[bytes, object]:
    """The ``timers`` table as its changelog says it is now (latest value per key)."""
    latest: dict[bytes, bytes | None] = {}
    for m in read_topic(dep.bootstrap, dep.timers_changelog):
        assert m.key is not None
        latest[m.key] = m.value
    codec = TimerRefCodec()
    return {k: codec.decode(v) for k, v in latest.items() if v is not None}


def _idle_restart(dep: EngineDeployment, worker_id: str, data_dir: Path) -> Worker:
    """Start a worker, let it own every partition and punctuate for a few seconds, stop it."""
    w = dep.worker(worker_id, data_dir=data_dir, env={"AGENTFLOW_WORKFLOWS": WORKFLOWS})
    w.wait_for(lambda s: len(s.get("assigned_partitions", [])) == 4, timeout=90)
    time.sleep(3.5)  # the orchestrator punctuates every second
    assert w.alive(), w.log()
    assert w.stop() == 0, w.log()
    return w


def test_should_fire_a_deadline_missed_while_down_exactly_once_after_restart(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, topic_prefix, tmp_path / "data", "tm")
    # B is approved in time (its deadline is disarmed); A is never answered and escalates.
    late = dataclasses.replace(
        plan(0, "refund", name="tm"),
        approvals=0,
        status="escalated",
        completed_steps=["classify", "propose_refund"],
        decisions=Counter(applied=4),
    )
    on_time = plan(1, "refund", name="tm")
    data_dir = tmp_path / "data" / "w1"
    worker = dep.worker("w1", data_dir=data_dir, env={"AGENTFLOW_WORKFLOWS": WORKFLOWS})
    run = EngineRun(dep, [late, on_time])
    try:
        run.send([on_time])
        run.wait(lambda r: on_time.workflow_id in r.finished, timeout=90, what="the approved one")
        run.send([late])
        run.wait(lambda r: late.workflow_id in r.requests, timeout=90, what="the approval request")
        # A is in awaiting_approval with its deadline armed: stop the worker before it is due.
        assert worker.stop() == 0, worker.log()
        [request] = run.requests[late.workflow_id]
        due_at = request.payload.due_at
        assert due_at is not None
        assert _timer_events(dep) == [], "the deadline fired before the worker stopped"
        before = final_states(dep)[late.workflow_id]
        assert before.status == "awaiting_approval"
        [timer] = before.timers
        assert (timer.name, timer.due_at) == ("approval_deadline", due_at)
        assert timer.due_at - before.updated_at == APPROVAL_DEADLINE_MS
        # Let it come due while nobody runs, then start the worker again (same id, same data).
        time.sleep(max(0.0, due_at / 1000 + 1.0 - time.time()))
        worker = dep.worker("w1", data_dir=data_dir, env={"AGENTFLOW_WORKFLOWS": WORKFLOWS})
        run.wait(lambda r: late.workflow_id in r.finished, timeout=90, what="the escalation")
        run.wait(timeout=30)
        run.settle(2.0)
        assert worker.alive(), worker.log()
        assert worker.stop() == 0, worker.log()
        after_first = _timer_events(dep)
        # Two more restarts: the same data dir, then an empty one (restored from the
        # changelogs). Neither may fire the deadline again.
        _idle_restart(dep, "w1", data_dir)
        fresh = _idle_restart(dep, "w2", tmp_path / "data" / "fresh")
        run.settle(1.0)
        got = collect(dep)
        timers_left = _live_timers(dep)
        # History with a fired deadline replays identically, and nothing is written.
        replayed = run_cli("replay", "--json", env={**dep.cli_env(),
                                                   "AGENTFLOW_WORKFLOWS": WORKFLOWS})  # fmt: skip
        ends_after_replay = collect(dep)
    finally:
        run.close()
        worker.kill()
        dep.delete()
    # Exactly one timer.fired, on the events topic, for A's deadline, at its due time.
    fired = _timer_events_from(got.events)
    assert fired == after_first
    assert len(fired) == 1, fired
    [event] = fired
    assert event.workflow_id == late.workflow_id
    assert event.occurred_at == due_at
    assert (event.payload.kind, event.payload.timer_id, event.payload.due_at) == (
        "approval_deadline",
        timer.timer_id,
        due_at,
    )
    assert event.payload.subject_id == request.payload.approval_id
    # One escalation in the audit, taken by that event.
    escalations = [
        a for a in got.audits if a.transition is not None and a.transition.trigger == TIMER_TRIGGER
    ]
    assert len(escalations) == 1, escalations
    [esc] = escalations
    assert (esc.workflow_id, esc.event_id, esc.event_type) == (
        late.workflow_id,
        event.event_id,
        "timer.fired",
    )
    assert (esc.decision, esc.status_before, esc.status_after) == (
        "applied",
        "awaiting_approval",
        "escalated",
    )
    assert sum(1 for a in got.audits if a.event_type == "timer.fired") == 1
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    replay = json.loads(replayed.stdout)
    assert replay["totals"] == {"identical": 2, "changed": 0, "new": 0, "missing": 0}
    assert replay["decisions_replayed"] == replay["decisions_recorded"] == len(got.audits)
    for topic in ("events", "audits", "steps", "outputs", "quarantine"):
        assert len(getattr(ends_after_replay, topic)) == len(getattr(got, topic)), topic
    # Final states: A escalated, B resolved; no deadline left anywhere.
    a_state, b_state = got.states[late.workflow_id], got.states[on_time.workflow_id]
    assert (a_state.status, a_state.final_outcome) == ("escalated", "escalated")
    assert a_state.completed_steps == ("classify", "propose_refund")
    assert a_state.timers == () and a_state.pending_approvals == ()
    assert [h.trigger for h in a_state.history][-1] == TIMER_TRIGGER
    assert (b_state.status, b_state.timers) == ("resolved", ())
    assert run.finished == {late.workflow_id: "escalated", on_time.workflow_id: "resolved"}
    # Exactly the planned decisions; one notice each; the timers table is empty.
    for p in (late, on_time):
        assert Counter(a.decision for a in got.audits if a.workflow_id == p.workflow_id) == (
            p.decisions
        ), p.workflow_id
    assert timers_left == {}
    restores = fresh.stats()["restores"]
    assert isinstance(restores, list)
    assert any(r["records"] > 0 for r in restores), restores
