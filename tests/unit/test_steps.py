"""Steps as declarations: what a step may see, what it must return, and how it answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

import pytest
from pydantic import BaseModel

from agentflow.testing import STEP_WORKER, EventFactory
from examples.workflows import SUPPORT_TRIAGE_V1
from examples.workflows.scripted import RefundProposal
from processors.engine import StepCommand
from processors.steps import (
    InvalidOutputError,
    completed_event,
    failed_event,
    render_instructions,
    result_event_id,
    scoped_view,
    validated_output,
)
from workflows import (
    START,
    DefinitionError,
    StepSpec,
    Tools,
    ToolSpec,
    Transition,
    WorkflowDefinition,
)


class Out(BaseModel):
    outcome: str


def _handler(view: Mapping[str, str], tools: Tools) -> Out:
    return Out(outcome="done")


SPEC = StepSpec(
    "summarise",
    ("context.subject", "event.*"),
    Out,
    instructions="Summarise: {{context.subject}} / {{event.body}}",
    handler=_handler,
)
INPUT = {
    "context.subject": "Charged twice",
    "context.customer_email": "ana@example.com",
    "event.body": "Please refund",
    "event.type": "customer.replied",
    "eventual": "not under event.*",
    "result.classify": '{"outcome": "refund"}',
}


def test_the_view_keeps_only_the_declared_keys_and_prefixes() -> None:
    assert scoped_view(SPEC, INPUT) == {
        "context.subject": "Charged twice",
        "event.body": "Please refund",
        "event.type": "customer.replied",
    }


def test_instructions_are_rendered_from_the_view_alone() -> None:
    view = scoped_view(SPEC, INPUT)
    assert render_instructions(SPEC, view) == "Summarise: Charged twice / Please refund"
    assert render_instructions(SPEC, {}) == "Summarise:  / "


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"instructions": "Mail {{context.customer_email}}"}, "outside its view"),
        ({"handler": None}, "a model or a handler, exactly one"),
        ({"model": "openai:gpt-4o-mini"}, "a model or a handler, exactly one"),
        ({"name": "Bad Name"}, "must match"),
        ({"timeout_s": 0}, "timeout_s must be > 0"),
    ],
)
def test_a_bad_step_declaration_fails_naming_the_problem(
    changes: dict[str, object], problem: str
) -> None:
    fields = {"name": "s", "view": ("context.subject",), "output_type": Out, "handler": _handler}
    with pytest.raises(DefinitionError, match=problem):
        StepSpec(**{**fields, **changes})  # type: ignore[arg-type]


def _definition(steps: tuple[StepSpec, ...], tools: tuple[ToolSpec, ...] = ()) -> None:
    WorkflowDefinition(
        name="w", version=1, states=("a", "done"), start_events=("ticket.created",),
        terminal_states=("done",), failed_state="done",
        transitions=(Transition("ticket.created", START, "a", step="summarise"),
                     Transition("step.completed:summarise", "a", "done")),
        steps=steps, tools=tools,
    )  # fmt: skip


def test_a_workflow_declares_every_step_it_issues_and_the_tools_they_allow() -> None:
    _definition((SPEC,))  # fine
    with pytest.raises(DefinitionError, match=r"issued but not declared \[\], declared but"):
        _definition((SPEC, StepSpec("extra", (), Out, handler=_handler)))
    lookup = StepSpec("summarise", (), Out, tools=("lookup",), handler=_handler)
    with pytest.raises(DefinitionError, match="allows \\['lookup'\\], which are not declared"):
        _definition((lookup,))
    tool = ToolSpec("lookup", Out, Out)
    _definition((lookup,), (tool,))
    billing_only = ToolSpec("lookup", Out, Out, roles=("billing",))
    with pytest.raises(DefinitionError, match="role None\\) allows 'lookup', which serves only"):
        _definition((lookup,), (billing_only,))
    _definition((replace(lookup, role="billing"),), (billing_only,))


def test_the_example_workflows_declare_their_steps() -> None:
    assert [s.name for s in SUPPORT_TRIAGE_V1.steps] == [
        "classify", "draft_reply", "request_info", "propose_refund", "execute_refund", "revise",
    ]  # fmt: skip
    classify = SUPPORT_TRIAGE_V1.step("classify")
    assert classify is not None and classify.model is not None
    assert not classify.sees("context.customer_email")  # not needed to classify, not shown


def test_an_output_outside_its_guardrails_is_invalid_output() -> None:
    spec = SUPPORT_TRIAGE_V1.step("propose_refund")
    assert spec is not None
    ok = validated_output(spec, {"outcome": "proposed", "amount": "42.00", "currency": "EUR"})
    assert isinstance(ok, RefundProposal)
    with pytest.raises(InvalidOutputError, match="at most 500"):
        validated_output(spec, {"outcome": "proposed", "amount": "900.00", "currency": "EUR"})
    with pytest.raises(InvalidOutputError, match="outcome"):
        validated_output(spec, '{"outcome": "maybe", "amount": "1", "currency": "EUR"}')


def _command() -> StepCommand:
    created = EventFactory("wf-s").ticket_created()
    return StepCommand(
        command_id="c1", workflow_id="wf-s", tenant="acme", definition_name="support_triage",
        definition_version=1, step="classify", attempt=2, causation_id=created.event_id,
        issued_at=1, input={"context.subject": "x"},
    )  # fmt: skip


def test_answers_echo_the_command_and_take_their_id_from_it() -> None:
    command = _command()
    done = completed_event(command, Out(outcome="refund"), 5, STEP_WORKER)
    failed = failed_event(command, "transient", "slow", "timeout", 6, STEP_WORKER)
    for event in (done, failed):
        assert event.event_id == result_event_id("c1") == "step-c1"
        assert (event.workflow_id, event.tenant, event.source) == (
            "wf-s",
            "acme",
            "agentflow-steps",
        )
        assert event.causation_id == command.causation_id
        assert (event.payload.step, event.payload.command_id, event.payload.attempt) == (
            "classify", "c1", 2,
        )  # fmt: skip
    assert json.loads(done.payload.result_json) == {"outcome": "refund"}
    assert (failed.payload.error_class, failed.payload.error_type) == ("transient", "timeout")


def test_a_published_result_must_carry_its_events_payload() -> None:
    publishing = StepSpec("summarise", ("context.subject", "event.*"), Out, handler=_handler,
                          instructions=SPEC.instructions, publishes="reply.drafted")  # fmt: skip
    with pytest.raises(DefinitionError, match=r"payload needs \['text', 'ticket_id'\]"):
        _definition((publishing,))
    unknown = StepSpec("summarise", (), Out, handler=_handler, publishes="reply.sent")
    with pytest.raises(DefinitionError, match=r"'reply\.sent', which is not an event type"):
        _definition((unknown,))
