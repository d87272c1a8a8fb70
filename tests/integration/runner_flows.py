"""A workflow whose one step just takes time, for the runner's scheduling tests
(``AGENTFLOW_WORKFLOWS=tests.integration.runner_flows:registry``). The step sleeps for the
seconds its ticket's subject names (``sleep:0.2``), standing in for a model's latency."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel

from processors.engine import ids
from processors.engine.records import StepCommand
from workflows import START, DefinitionRegistry, StepSpec, Tools, Transition, WorkflowDefinition


class Worked(BaseModel):
    outcome: Literal["done"]
    slept_s: str


async def work(view: Mapping[str, str], tools: Tools) -> Worked:
    seconds = view.get("context.subject", "sleep:0").removeprefix("sleep:")
    await asyncio.sleep(float(seconds))
    return Worked(outcome="done", slept_s=seconds)


TIMED = WorkflowDefinition(
    name="timed",
    version=1,
    states=("working", "done", "failed"),
    start_events=("ticket.created",),
    terminal_states=("done", "failed"),
    transitions=(
        Transition("ticket.created", START, "working", step="work"),
        Transition("step.completed:work", "working", "done"),
    ),
    steps=(StepSpec("work", ("context.subject",), Worked, handler=work),),
)


#: The same, with its step declared urgent: the runner starts it before normal steps.
PAGING = WorkflowDefinition(
    name="paging",
    version=1,
    states=("working", "done", "failed"),
    start_events=("alert.fired",),
    terminal_states=("done", "failed"),
    transitions=(
        Transition("alert.fired", START, "working", step="page"),
        Transition("step.completed:page", "working", "done"),
    ),
    steps=(StepSpec("page", ("context.subject",), Worked, handler=work, priority="urgent"),),
)


def registry() -> DefinitionRegistry:
    return DefinitionRegistry([TIMED, PAGING])


def command(workflow_id: str, tenant: str, seconds: float, urgent: bool = False) -> StepCommand:
    """The command a ``timed`` (or, ``urgent``, a ``paging``) workflow's start would issue,
    sleeping ``seconds``."""
    cause = f"created-{workflow_id}"
    step = "page" if urgent else "work"
    return StepCommand(
        command_id=ids.command_id(cause, step, 1),
        workflow_id=workflow_id,
        tenant=tenant,
        definition_name="paging" if urgent else "timed",
        definition_version=1,
        step=step,
        attempt=1,
        causation_id=cause,
        issued_at=0,
        input={"context.subject": f"sleep:{seconds}", "context.secret": "not in the view"},
    )
