"""A workflow whose classify step is a model, for the end-to-end model step test
(``AGENTFLOW_WORKFLOWS=tests.integration.model_flows:registry``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from workflows import START, DefinitionRegistry, StepSpec, Transition, WorkflowDefinition


class Triage(BaseModel):
    outcome: Literal["refund", "low_risk"]
    reason: str


CLASSIFY = StepSpec(
    "classify",
    ("context.subject", "context.body"),
    Triage,
    instructions="Is this ticket a refund request? {{context.subject}}",
    model="openai:fake-triage",
)

MODEL_TRIAGE = WorkflowDefinition(
    name="model_triage",
    version=1,
    states=("classifying", "refunding", "answered", "failed"),
    start_events=("ticket.created",),
    terminal_states=("refunding", "answered", "failed"),
    transitions=(
        Transition("ticket.created", START, "classifying", step="classify"),
        Transition("step.completed:classify:refund", "classifying", "refunding"),
        Transition("step.completed:classify:low_risk", "classifying", "answered"),
    ),
    steps=(CLASSIFY,),
)


def registry() -> DefinitionRegistry:
    return DefinitionRegistry([MODEL_TRIAGE])
