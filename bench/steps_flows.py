"""The workflow of the steps suite: one model step (``answer``) whose model is the bench's
OpenAI-protocol server, answering after a fixed delay (``AGENTFLOW_WORKFLOWS`` for the runner;
imported directly by the faust contender)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from processors.engine import ids
from processors.engine.records import StepCommand
from workflows import START, DefinitionRegistry, StepSpec, Transition, WorkflowDefinition


class Answered(BaseModel):
    outcome: Literal["answered"]
    summary: str


ANSWER = StepSpec("answer", ("context.subject",), Answered,
                  instructions="Answer the ticket: {{context.subject}}",
                  model="openai:bench-model", retry_on=())  # fmt: skip

BENCH_STEPS = WorkflowDefinition(
    name="bench_steps",
    version=1,
    states=("answering", "done", "failed"),
    start_events=("ticket.created",),
    terminal_states=("done", "failed"),
    transitions=(
        Transition("ticket.created", START, "answering", step="answer"),
        Transition("step.completed:answer", "answering", "done"),
    ),
    steps=(ANSWER,),
)


def registry() -> DefinitionRegistry:
    return DefinitionRegistry([BENCH_STEPS])


def command(i: int) -> StepCommand:
    """The ``i``-th bench command (its own workflow, two tenants)."""
    workflow_id = f"bench-{i:06d}"
    cause = f"created-{workflow_id}"
    return StepCommand(
        command_id=ids.command_id(cause, "answer", 1),
        workflow_id=workflow_id,
        tenant=("acme", "globex")[i % 2],
        definition_name="bench_steps",
        definition_version=1,
        step="answer",
        attempt=1,
        causation_id=cause,
        issued_at=0,
        input={"context.subject": f"Ticket {i}: where is my order?"},
    )
