"""Model steps that call tools, against the OpenAI-protocol test server: the toolbox runs the
allowed ones, and a call outside the allowlist is refused, told to the model and recorded."""

from __future__ import annotations

import asyncio
import json
from typing import Literal

from pydantic import BaseModel

from agentflow.testing.actors import STEP_WORKER
from agentflow.testing.fake_openai import FakeOpenAI, Reply
from agentflow.testing.stepworker import MemoryLedger
from agents import ModelEndpoint
from agents.executor import StepExecutor, StepOutcome
from agents.tools import ToolBinding, ToolContext, ToolRegistry
from processors.engine import ids
from processors.engine.records import StepCommand
from processors.events import StepCompletedV2, StepFailedV2
from workflows import (
    START,
    DefinitionRegistry,
    StepSpec,
    ToolSpec,
    Transition,
    WorkflowDefinition,
)


class OrderQuery(BaseModel):
    order_id: str


class Order(BaseModel):
    order_id: str
    total: str


class Answer(BaseModel):
    outcome: Literal["answered"]
    total: str


LOOKUP = ToolSpec("lookup_order", OrderQuery, Order, impact="read")
REFUND = ToolSpec("refund_order", OrderQuery, Order, impact="write")
ANSWER = StepSpec("answer", ("context.subject",), Answer, tools=("lookup_order",),
                  instructions="Answer: {{context.subject}}", model="openai:fake-gpt")  # fmt: skip
DEFINITION = WorkflowDefinition(
    name="orders",
    version=1,
    states=("answering", "done", "failed"),
    start_events=("ticket.created",),
    terminal_states=("done", "failed"),
    transitions=(
        Transition("ticket.created", START, "answering", step="answer"),
        Transition("step.completed:answer", "answering", "done"),
    ),
    steps=(ANSWER,),
    tools=(LOOKUP, REFUND),
)
COMMAND = StepCommand(
    command_id=ids.command_id("evt-1", "answer", 1), workflow_id="wf-1", tenant="acme",
    definition_name="orders", definition_version=1, step="answer", attempt=1,
    causation_id="evt-1", issued_at=0, input={"context.subject": "Where is order 5521?"},
)  # fmt: skip


async def _now() -> None:
    return None


def _execute(server: FakeOpenAI, looked_up: list[str]) -> StepOutcome:
    async def lookup(args: BaseModel, ctx: ToolContext) -> Order:
        assert isinstance(args, OrderQuery)
        looked_up.append(args.order_id)
        return Order(order_id=args.order_id, total="42.00")

    async def refund(args: BaseModel, ctx: ToolContext) -> Order:
        raise AssertionError("never allowed to run")

    tools = ToolRegistry([ToolBinding("lookup_order", lookup), ToolBinding("refund_order", refund)])
    executor = StepExecutor(DefinitionRegistry([DEFINITION]), tools, STEP_WORKER,
                            ModelEndpoint(server.base_url, "test-key", 5))  # fmt: skip
    return asyncio.run(executor.execute(COMMAND, MemoryLedger(), _now))


def test_a_model_calls_an_allowed_tool_through_the_toolbox() -> None:
    replies = [Reply.call("lookup_order", {"order_id": "5521"}),
               Reply.output({"outcome": "answered", "total": "42.00"})]  # fmt: skip
    looked_up: list[str] = []
    with FakeOpenAI(replies) as server:
        outcome = _execute(server, looked_up)
    assert isinstance(outcome.answer, StepCompletedV2)
    assert json.loads(outcome.answer.payload.result_json)["total"] == "42.00"
    assert looked_up == ["5521"]
    assert [(c.tool, c.impact, c.status) for c in outcome.calls] == [
        ("lookup_order", "read", "called")
    ]
    offered = [t["function"]["name"] for t in server.requests[0]["tools"]]
    assert "lookup_order" in offered and "refund_order" not in offered  # only the allowlist
    [returned] = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
    assert json.loads(returned["content"]) == {"order_id": "5521", "total": "42.00"}


def test_a_tool_outside_the_allowlist_is_refused_told_and_recorded() -> None:
    replies = [Reply.call("refund_order", {"order_id": "5521"}),
               Reply.output({"outcome": "answered", "total": "unknown"})]  # fmt: skip
    with FakeOpenAI(replies) as server:
        outcome = _execute(server, [])
    assert isinstance(outcome.answer, StepCompletedV2)  # the model went on without it
    assert [(c.tool, c.status, c.error_type) for c in outcome.calls] == [
        ("refund_order", "refused", "tool_not_allowed")
    ]
    assert "Unknown tool name: 'refund_order'" in json.dumps(server.requests[1]["messages"])


def test_a_model_that_keeps_calling_a_forbidden_tool_fails_the_step() -> None:
    replies = [Reply.call("refund_order", {"order_id": "5521"}) for _ in range(4)]
    with FakeOpenAI(replies) as server:
        outcome = _execute(server, [])
    assert isinstance(outcome.answer, StepFailedV2)
    payload = outcome.answer.payload
    assert (payload.error_class, payload.error_type) == ("permanent", "tool_not_allowed")
    # The refusals and what the model spent before the step failed are on the result.
    asked = len(server.requests)
    assert [(c.tool, c.status) for c in payload.tool_calls] == [("refund_order", "refused")] * asked
    assert payload.usage is not None
    assert (payload.usage.requests, payload.usage.input_tokens) == (asked, 50 * asked)
