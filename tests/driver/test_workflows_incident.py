"""incident_investigation end to end through the test driver: every branch of the definition,
including deployments and resolutions that arrive while a step is still running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentflow.testing import WorkflowHarness
from examples.workflows import example_registry
from processors.engine import OrchestratorProcessor, StepCommand, WorkflowNotice, ids
from processors.events import Envelope
from streams.driver import TestDriver
from workflows import START

WF = "wf-incident-1"


@pytest.fixture
def h(tmp_path: Path) -> Iterator[WorkflowHarness]:
    with TestDriver([OrchestratorProcessor(example_registry())], tmp_path) as driver:
        harness = WorkflowHarness(driver, WF)
        yield harness
        # Every path these tests take is replayable: a fresh engine reading the events log
        # decides it exactly as the live run did.
        harness.assert_replays_identically()


def send(h: WorkflowHarness, event: Envelope) -> Envelope:
    h.send(event)
    return event


def complete(h: WorkflowHarness, command: StepCommand) -> Envelope:
    return send(h, h.events.step_completed(command, {"summary": f"{command.step} ok"}))


def path_of(h: WorkflowHarness) -> list[tuple[str, str, str]]:
    return [(e.trigger, e.from_state or START, e.to_state) for e in h.state().history]


def check_done(h: WorkflowHarness, cause: Envelope) -> None:
    st = h.state()
    assert (st.status, st.final_outcome) == ("done", "done")
    assert st.held == () and all(c.status != "open" for c in st.step_calls)
    [notice] = h.outputs()
    assert isinstance(notice, WorkflowNotice)
    assert notice.notice_id == ids.notice_id(cause.event_id, "workflow.completed")
    assert h.commands() == [] and h.quarantined() == []


def test_alert_without_deployments_goes_straight_to_the_postmortem(h: WorkflowHarness) -> None:
    fired = send(h, h.events.alert_fired())
    gather = h.command()
    assert gather.command_id == ids.command_id(fired.event_id, "gather_context", 1)
    assert gather.input["event.severity"] == "critical"
    complete(h, gather)
    resolved = send(h, h.events.alert_resolved())
    postmortem = h.command()
    assert postmortem.command_id == ids.command_id(resolved.event_id, "draft_postmortem", 1)
    assert postmortem.input["result.gather_context"] == '{"summary": "gather_context ok"}'
    assert postmortem.input["context.alert_id"] == "al-1"
    written = complete(h, postmortem)
    check_done(h, written)
    assert path_of(h) == [
        ("alert.fired", START, "gathering_context"),
        ("step.completed:gather_context", "gathering_context", "waiting"),
        ("alert.resolved", "waiting", "drafting_postmortem"),
        ("step.completed:draft_postmortem", "drafting_postmortem", "done"),
    ]
    assert len(h.audits()) == 4


def test_each_deployment_is_correlated_then_the_workflow_waits_again(h: WorkflowHarness) -> None:
    send(h, h.events.alert_fired())
    complete(h, h.command())
    for version in ("v2", "v3"):
        deployed = send(h, h.events.deployment_completed(version))
        correlate = h.command()
        assert correlate.command_id == ids.command_id(deployed.event_id, "correlate_deployment", 1)
        assert correlate.input["event.version"] == version
        complete(h, correlate)
        assert h.state().status == "waiting"
    send(h, h.events.alert_resolved())
    written = complete(h, h.command())
    check_done(h, written)
    assert [to for _, _, to in path_of(h)] == [
        "gathering_context",
        "waiting",
        "correlating",
        "waiting",
        "correlating",
        "waiting",
        "drafting_postmortem",
        "done",
    ]
    assert h.state().completed_steps == (
        "gather_context",
        "correlate_deployment",
        "correlate_deployment",
        "draft_postmortem",
    )
    assert len(h.audits()) == 8


def test_events_during_a_running_step_are_held_and_applied_in_arrival_order(
    h: WorkflowHarness,
) -> None:
    send(h, h.events.alert_fired())
    gather = h.command()
    deployed = send(h, h.events.deployment_completed())  # still gathering: held
    resolved = send(h, h.events.alert_resolved())  # held behind it
    assert [x.event_id for x in h.state().held] == [deployed.event_id, resolved.event_id]
    complete(h, gather)  # back in waiting: the deployment applies, the resolution waits
    correlate = h.command()
    assert correlate.command_id == ids.command_id(deployed.event_id, "correlate_deployment", 1)
    assert h.state().status == "correlating"
    complete(h, correlate)  # back in waiting: now the resolution applies
    postmortem = h.command()
    assert postmortem.command_id == ids.command_id(resolved.event_id, "draft_postmortem", 1)
    written = complete(h, postmortem)
    check_done(h, written)
    audits = h.audits()
    assert [(a.event_id, a.decision) for a in audits] == [
        (audits[0].event_id, "applied"),
        (deployed.event_id, "held"),
        (resolved.event_id, "held"),
        (audits[3].event_id, "applied"),
        (deployed.event_id, "applied"),
        (audits[5].event_id, "applied"),
        (resolved.event_id, "applied"),
        (written.event_id, "applied"),
    ]
    # Released at the time of the event that made it acceptable, not the time it arrived.
    assert audits[4].decided_at == audits[3].decided_at


def test_events_before_the_alert_wait_for_it(h: WorkflowHarness) -> None:
    deployed = send(h, h.events.deployment_completed())
    assert not h.state().started
    fired = send(h, h.events.alert_fired())
    gather = h.command()
    assert gather.command_id == ids.command_id(fired.event_id, "gather_context", 1)
    complete(h, gather)
    correlate = h.command()
    assert correlate.causation_id == deployed.event_id
    complete(h, correlate)
    send(h, h.events.alert_resolved())
    written = complete(h, h.command())
    check_done(h, written)
    assert [a.decision for a in h.audits()] == ["held"] + ["applied"] * 6


def test_a_failing_step_fails_the_investigation(h: WorkflowHarness) -> None:
    send(h, h.events.alert_fired())
    send(h, h.events.step_failed(h.command(), "transient"))
    failed = send(h, h.events.step_failed(h.command(), "permanent", "no logs"))
    st = h.state()
    assert (st.status, st.final_outcome) == ("failed", "failed")
    [notice] = h.outputs()
    assert isinstance(notice, WorkflowNotice)
    assert notice.notice_id == ids.notice_id(failed.event_id, "workflow.failed")
    assert [a.decision for a in h.audits()] == ["applied", "retried", "applied"]
