"""What the step runner's spans say: the step's command, its outcome, each tool call, and
pydantic-ai's spans of each model request (without the prompts and answers, which are
tenants' data)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry.trace import Span, SpanKind
from pydantic_ai.models import Model
from pydantic_ai.models.instrumented import InstrumentationSettings, InstrumentedModel

from processors.engine.records import StepCommand
from streams.tracing import TRACEPARENT, AttributeValue, Tracing

if TYPE_CHECKING:  # the executor imports this module
    from agents.executor import StepOutcome


def command_attributes(command: StepCommand) -> dict[str, AttributeValue]:
    """The span attributes of a step command."""
    definition = f"{command.definition_name}@{command.definition_version}"
    return {"agentflow.workflow_id": command.workflow_id, "agentflow.tenant": command.tenant,
            "agentflow.step": command.step, "agentflow.command_id": command.command_id,
            "agentflow.attempt": command.attempt, "agentflow.definition": definition}  # fmt: skip


def outcome_attributes(outcome: StepOutcome) -> dict[str, AttributeValue]:
    """The span attributes of a step's answer: completed or failed (and why), its cost."""
    answer = outcome.answer
    attrs: dict[str, AttributeValue] = {
        "agentflow.event_id": answer.event_id,
        "agentflow.event_type": answer.event_type,
        "agentflow.tool_calls": [f"{c.tool}:{c.status}" for c in outcome.calls],
    }
    error_type = getattr(answer.payload, "error_type", None)
    if error_type:
        attrs["agentflow.reason_codes"] = [error_type]
    if outcome.usage is not None:
        attrs["gen_ai.usage.input_tokens"] = outcome.usage.input_tokens
        attrs["gen_ai.usage.output_tokens"] = outcome.usage.output_tokens
    return attrs


def instrumented(model: Model, tracing: Tracing | None) -> Model:
    """``model`` with a span per request (pydantic-ai's), or ``model`` when tracing is off."""
    if tracing is None:
        return model
    settings = InstrumentationSettings(tracer_provider=tracing.provider, include_content=False,
                                       include_binary_content=False)  # fmt: skip
    return InstrumentedModel(model, settings)


@contextmanager
def tool_span(tracing: Tracing | None, name: str, impact: str) -> Iterator[Span | None]:
    """A span around one tool call, child of the step's (current) span."""
    if tracing is None:
        yield None
        return
    span = tracing.tracer.start_span(f"agentflow.tool {name}", kind=SpanKind.CLIENT,
                                     attributes={"agentflow.tool": name,
                                                 "agentflow.tool_impact": impact})  # fmt: skip
    with tracing.current(span):
        yield span


@contextmanager
def step_span(
    tracing: Tracing | None, command: StepCommand, traceparent: bytes | None
) -> Iterator[Span | None]:
    """The step's span, current while the step runs (its model and tool spans are children),
    child of the command's trace when that is sampled; None otherwise."""
    span = None
    if tracing is not None and traceparent is not None:
        span = tracing.start(f"agentflow.step {command.step}", [(TRACEPARENT, traceparent)],
                             command_attributes(command))  # fmt: skip
    if tracing is None or span is None:
        yield None
        return
    with tracing.current(span):
        yield span
