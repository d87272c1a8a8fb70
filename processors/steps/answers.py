"""What answers a step command: a validated output, and the result event that carries it.

The result's event id is ``step-<command id>``: a redelivered command gets the same id, and the
engine drops the second answer as a duplicate. The event echoes the command's tenant, workflow
and causation, and its step, command id and attempt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final

from pydantic import BaseModel, ValidationError

from processors.engine.records import StepCommand
from processors.events import (
    Actor,
    StepCompletedPayloadV2,
    StepCompletedV2,
    StepFailedPayloadV2,
    StepFailedV2,
    StepUsageV1,
    ToolCallV1,
    validation_detail,
)
from workflows import StepSpec

#: The source step results are signed as (its key is in the signing keys).
STEP_SOURCE: Final = "agentflow-steps"


class InvalidOutputError(ValueError):
    """The step's output does not validate against its output type (a permanent failure)."""

    error_class: Final = "permanent"
    error_type: Final = "invalid_output"


def result_event_id(command_id: str) -> str:
    """The event id of the answer to command ``command_id``."""
    return f"step-{command_id}"


def validated_output(spec: StepSpec, raw: BaseModel | Mapping[str, object] | str) -> BaseModel:
    """``raw`` (a model, a mapping or JSON text) validated by ``spec.output_type``; its
    validators are the step's output guardrails. :class:`InvalidOutputError` if it fails."""
    try:
        if isinstance(raw, str):
            return spec.output_type.model_validate_json(raw)
        data = raw.model_dump() if isinstance(raw, BaseModel) else raw
        return spec.output_type.model_validate(data)
    except ValidationError as exc:
        raise InvalidOutputError(f"{spec.name}: {validation_detail(exc)}") from None


def _common(command: StepCommand, now_ms: int, actor: Actor) -> dict[str, object]:
    return {
        "event_id": result_event_id(command.command_id),
        "occurred_at": now_ms,
        "source": STEP_SOURCE,
        "tenant": command.tenant,
        "actor": actor,
        "workflow_id": command.workflow_id,
        "causation_id": command.causation_id,
    }


def completed_event(
    command: StepCommand,
    output: BaseModel,
    now_ms: int,
    actor: Actor,
    *,
    usage: StepUsageV1 | None = None,
    tool_calls: Sequence[ToolCallV1] = (),
    duration_ms: int | None = None,
) -> StepCompletedV2:
    """The ``step.completed`` answering ``command`` with ``output`` (its JSON, keys sorted),
    what the step cost (``usage``, for a model step) and the tools it called."""
    payload = StepCompletedPayloadV2(
        step=command.step,
        command_id=command.command_id,
        attempt=command.attempt,
        result_json=json.dumps(output.model_dump(mode="json"), sort_keys=True),
        duration_ms=duration_ms,
        usage=usage,
        tool_calls=list(tool_calls),
    )
    return StepCompletedV2.model_validate({**_common(command, now_ms, actor), "payload": payload})


def failed_event(
    command: StepCommand,
    error_class: str,
    message: str,
    error_type: str,
    now_ms: int,
    actor: Actor,
    *,
    usage: StepUsageV1 | None = None,
    tool_calls: Sequence[ToolCallV1] = (),
) -> StepFailedV2:
    """The ``step.failed`` answering ``command``: ``transient`` (the engine may re-issue it)
    or ``permanent``, with what the step cost before it failed and the tools it called."""
    payload = StepFailedPayloadV2.model_validate(
        {
            "step": command.step,
            "command_id": command.command_id,
            "attempt": command.attempt,
            "error_class": error_class,
            "error_message": message[:500],
            "error_type": error_type,
            "usage": usage,
            "tool_calls": list(tool_calls),
        }
    )
    return StepFailedV2.model_validate({**_common(command, now_ms, actor), "payload": payload})
