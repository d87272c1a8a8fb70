"""Workflow definitions: validation errors, the registry and versioning."""

from __future__ import annotations

from typing import Any

import pytest

from agentflow.testing import EventFactory
from examples.workflows import INCIDENT_INVESTIGATION_V1, SUPPORT_TRIAGE_V1, example_registry
from processors.engine import decide
from workflows import (
    START,
    ApprovalStep,
    Deadline,
    DefinitionError,
    DefinitionRegistry,
    Transition,
    WorkflowDefinition,
    parse_trigger,
)


def make(**overrides: Any) -> WorkflowDefinition:
    """A small valid definition (start -> working [work] -> done), with overrides."""
    fields: dict[str, Any] = {
        "name": "mini",
        "version": 1,
        "states": ("working", "done", "failed"),
        "start_events": ("ticket.created",),
        "terminal_states": ("done", "failed"),
        "transitions": (
            Transition("ticket.created", START, "working", step="work"),
            Transition("step.completed:work", "working", "done"),
        ),
    }
    fields.update(overrides)
    return WorkflowDefinition(**fields)


def test_should_accept_the_minimal_definition_and_the_shipped_ones() -> None:
    assert make().ident == "mini@1"
    assert SUPPORT_TRIAGE_V1.ident == "support_triage@1"
    assert INCIDENT_INVESTIGATION_V1.ident == "incident_investigation@1"


def test_should_reject_an_unreachable_state() -> None:
    with pytest.raises(DefinitionError) as err:
        make(states=("working", "limbo", "done", "failed"))
    assert str(err.value) == "workflow mini@1: unreachable state(s) 'limbo'"


def test_should_reject_a_transition_to_an_unknown_state() -> None:
    with pytest.raises(DefinitionError) as err:
        make(
            transitions=(
                Transition("ticket.created", START, "working", step="work"),
                Transition("step.completed:work", "working", "nowhere"),
            )
        )
    assert str(err.value) == (
        "workflow mini@1: transition 'step.completed:work' working -> nowhere: "
        "unknown state 'nowhere'"
    )


def test_should_reject_a_transition_from_an_unknown_state() -> None:
    with pytest.raises(DefinitionError, match="unknown state 'ghost'"):
        make(
            transitions=(
                Transition("ticket.created", START, "working", step="work"),
                Transition("step.completed:work", "working", "done"),
                Transition("ticket.closed", "ghost", "done"),
            )
        )


def test_should_reject_two_transitions_for_the_same_event_in_the_same_state() -> None:
    with pytest.raises(DefinitionError) as err:
        make(
            transitions=(
                Transition("ticket.created", START, "working", step="work"),
                Transition("step.completed:work", "working", "done"),
                Transition("step.completed:work", "working", "failed"),
            )
        )
    assert str(err.value) == (
        "workflow mini@1: ambiguous transitions in state 'working': "
        "'step.completed:work' and 'step.completed:work' match the same event"
    )


def test_should_reject_a_generic_and_an_outcome_trigger_for_one_step_in_one_state() -> None:
    # step.completed:work:ok would match both: no precedence rule, the definition must choose.
    with pytest.raises(DefinitionError, match="ambiguous transitions in state 'working'"):
        make(
            transitions=(
                Transition("ticket.created", START, "working", step="work"),
                Transition("step.completed:work", "working", "done"),
                Transition("step.completed:work:ok", "working", "failed"),
            )
        )


def test_should_allow_distinct_outcomes_of_one_step() -> None:
    d = make(
        transitions=(
            Transition("ticket.created", START, "working", step="work"),
            Transition("step.completed:work:ok", "working", "done"),
            Transition("step.completed:work:bad", "working", "failed"),
        )
    )
    assert d.match("working", ("step.completed:work:bad", "step.completed:work")) is not None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"terminal_states": ("done",)}, "failed_state 'failed' must be a terminal state"),
        ({"states": ("working", "done")}, "terminal state 'failed' is not a known state"),
        ({"start_events": ()}, "no start events"),
        ({"start_events": ("step.completed",)}, "is not a startable event type"),
        ({"max_attempts": 0}, "max_attempts must be >= 1"),
        ({"version": 0}, "the version must be >= 1"),
        ({"states": ("working", "working", "done", "failed")}, "state 'working' is listed twice"),
        (
            {
                "transitions": (
                    Transition("ticket.created", START, "working", step="work"),
                    Transition("step.completed", "working", "done"),
                )
            },
            "use step.completed:<step>",
        ),
        (
            {
                "transitions": (
                    Transition("ticket.created", START, "working", step="work"),
                    Transition("ticket.exploded", "working", "done"),
                )
            },
            "unknown event type 'ticket.exploded'",
        ),
        (
            {
                "transitions": (
                    Transition("ticket.created", START, "working", step="work"),
                    Transition("step.completed:work", "working", "done"),
                    Transition("ticket.closed", "done", "working"),
                )
            },
            "terminal state 'done' cannot have transitions",
        ),
        (
            {
                "transitions": (
                    Transition("ticket.created", START, "working", step="work"),
                    Transition("approval.granted", "working", "done"),
                )
            },
            "'working' does not request an approval",
        ),
        (
            {
                "transitions": (
                    Transition("ticket.created", START, "working", step="work"),
                    Transition("step.completed:work", "working", "done"),
                ),
                "deadlines": (Deadline("late", "working", 1000),),
            },
            "deadline 'late': no 'timer.fired:late' out of 'working'",
        ),
        (
            {
                "transitions": (
                    Transition("ticket.created", START, "working", step="work"),
                    Transition("timer.fired:late", "working", "done"),
                ),
            },
            "no deadline 'late' is armed in 'working'",
        ),
        (
            {
                "states": ("working", "stuck", "done", "failed"),
                "transitions": (
                    Transition("ticket.created", START, "working", step="work"),
                    Transition("step.completed:work", "working", "stuck"),
                    Transition("ticket.closed", "working", "done"),
                ),
            },
            "state 'stuck' is not terminal but has no transitions out of it",
        ),
        (
            {
                "transitions": (
                    Transition("ticket.created", START, "working", step="work"),
                    Transition("step.completed:work", START, "done"),
                )
            },
            "only start events leave",
        ),
        (
            {"approval_steps": (ApprovalStep("done", "ok", "boss"),)},
            "approval step 'ok': 'done' is not a non-terminal state",
        ),
    ],
)
def test_should_name_the_problem_of_a_malformed_definition(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        make(**overrides)


def test_should_parse_triggers() -> None:
    t = parse_trigger("step.completed:classify:refund")
    assert (t.kind, t.step, t.outcome) == ("step_completed", "classify", "refund")
    assert parse_trigger("timer.fired:approval_deadline").timer == "approval_deadline"
    assert parse_trigger("ticket.created").kind == "event"
    with pytest.raises(DefinitionError):
        parse_trigger("ticket.created:x")
    with pytest.raises(DefinitionError):
        parse_trigger("Ticket")


def test_registry_should_start_new_workflows_on_the_newest_version() -> None:
    v1, v2 = make(), make(version=2)
    registry = DefinitionRegistry([v2, v1])
    assert registry.versions("mini") == (1, 2)
    assert registry.for_start_event("ticket.created") is v2
    assert registry.get("mini", 1) is v1
    assert registry.latest("mini") is v2
    assert registry.for_start_event("alert.fired") is None
    assert [d.ident for d in registry] == ["mini@1", "mini@2"]


def test_registry_should_refuse_a_version_twice_and_a_start_event_of_another_workflow() -> None:
    registry = DefinitionRegistry([make()])
    with pytest.raises(DefinitionError, match=r"workflow mini@1: already registered"):
        registry.register(make())
    with pytest.raises(DefinitionError, match=r"start event 'ticket\.created' already starts"):
        registry.register(make(name="other"))


def test_should_keep_a_running_workflow_on_the_version_it_started_with() -> None:
    v1 = make()
    v2 = make(
        version=2,
        states=("working", "checking", "done", "failed"),
        transitions=(
            Transition("ticket.created", START, "working", step="work"),
            Transition("step.completed:work", "working", "checking", step="check"),
            Transition("step.completed:check", "checking", "done"),
        ),
    )
    registry = DefinitionRegistry([v1])
    old = EventFactory("wf-old")
    started = decide(None, old.ticket_created(), 0, registry, 10)
    assert started.state is not None and started.state.definition_version == 1
    registry.register(v2)  # deployed while wf-old runs
    command = started.commands[0]
    finished = decide(started.state, old.step_completed(command), 1, registry, 20)
    assert finished.state is not None
    assert (finished.state.status, finished.state.definition_version) == ("done", 1)
    new = decide(None, EventFactory("wf-new").ticket_created(), 2, registry, 30)
    assert new.state is not None and new.state.definition_version == 2


def test_builtin_registry_holds_both_examples() -> None:
    registry = example_registry()
    assert registry.for_start_event("ticket.created") is SUPPORT_TRIAGE_V1
    assert registry.for_start_event("alert.fired") is INCIDENT_INVESTIGATION_V1
    # a refund in flight cannot be closed; every other open state can
    assert SUPPORT_TRIAGE_V1.match("executing_refund", ("ticket.closed",)) is None
    assert SUPPORT_TRIAGE_V1.match("revising", ("ticket.closed",)) is not None
