"""Executing one step command: the declared step, on its scoped view, with its toolbox.

The :class:`StepExecutor` looks the command's step up in the workflow's declarations, runs its
Python handler or its model (with the step's allowed tools bound to the toolbox), validates
the output and returns the ``step.completed`` or ``step.failed`` that answers the command,
with what the step called and cost. Every failure is classified for the engine: a step that
nobody declared, an output that does not validate, a refused tool call, a permanent model or
tool error fail for good; transient ones may be re-issued by the engine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel
from pydantic_ai.models import Model

from agents.model_step import StepError, StepUsage, model_tools, run_with_retries
from agents.models import ModelEndpoint, build_step_model
from agents.step_tracing import instrumented
from agents.toolbox import LedgerStore, StepToolbox, ToolCallRecord
from agents.tools import ToolFailure, ToolRegistry
from processors.engine.records import StepCommand
from processors.events import Actor, StepCompletedV2, StepFailedV2, StepUsageV1, ToolCallV1
from processors.steps import (
    ApprovalMismatchError,
    InvalidOutputError,
    completed_event,
    failed_event,
    scoped_view,
    validated_output,
)
from streams.tracing import Tracing
from workflows import DefinitionRegistry, StepSpec

StepAnswer = StepCompletedV2 | StepFailedV2
log = logging.getLogger("agentflow.steps")


def _usage(usage: StepUsage | None) -> StepUsageV1 | None:
    if usage is None:
        return None
    return StepUsageV1(
        model=usage.model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        requests=usage.requests,
        cost_usd=usage.cost_usd,
    )


@dataclass
class StepOutcome:
    """A command's answer, the tool calls it made and, for a model step, its usage."""

    answer: StepAnswer
    calls: list[ToolCallRecord] = field(default_factory=list)
    usage: StepUsage | None = None

    @property
    def completed(self) -> bool:
        return isinstance(self.answer, StepCompletedV2)


def _record_refusals(toolbox: StepToolbox, refused: tuple[str, ...]) -> None:
    """Tools the model asked for outside its allowlist: it was told they do not exist, and
    the refusals go on the step's record."""
    for name in refused:
        declared = toolbox.declared.get(name)
        impact = declared.impact if declared is not None else "?"
        toolbox.calls.append(ToolCallRecord(name, impact, "refused", error_type="tool_not_allowed"))


@dataclass
class StepExecutor:
    """Runs declared steps; shared by the runner and the test kit's step worker."""

    registry: DefinitionRegistry
    tools: ToolRegistry
    actor: Actor
    model_endpoint: ModelEndpoint = field(default_factory=ModelEndpoint)
    clock: Callable[[], float] = time.time
    #: Every model step's model instead of the one it declares (``AGENTFLOW_MODEL``).
    model_override: str | None = None
    #: Spans for steps, model requests and tool calls; None: tracing off.
    tracing: Tracing | None = None
    # Models by (model, fallback): one client each, reused (a new OpenAI client per step
    # cost 20 ms of TLS set-up: 31 steps/s at 100 in flight, against a 200 ms model).
    _models: dict[tuple[str, str | None], Model] = field(default_factory=dict, repr=False)

    def spec(self, command: StepCommand) -> StepSpec | None:
        """The declaration of ``command``'s step; None if nobody declared it."""
        definition = self.registry.get(command.definition_name, command.definition_version)
        return definition.step(command.step) if definition is not None else None

    def is_urgent(self, command: StepCommand) -> bool:
        """True if ``command``'s step is declared ``priority="urgent"``."""
        spec = self.spec(command)
        return spec is not None and spec.priority == "urgent"

    def calls_a_model(self, command: StepCommand) -> bool:
        """True if ``command``'s step is a model step."""
        spec = self.spec(command)
        return spec is not None and spec.model is not None

    def refuse(self, command: StepCommand, error_type: str, detail: str) -> StepOutcome:
        """A permanent ``step.failed`` for ``command``, without running it."""
        return StepOutcome(self._failed(command, "permanent", error_type, detail))

    async def execute(
        self,
        command: StepCommand,
        ledger: LedgerStore,
        durable: Callable[[], Awaitable[None]],
    ) -> StepOutcome:
        """Run ``command``'s step; its answer (never raises for a step's own failure)."""
        definition = self.registry.get(command.definition_name, command.definition_version)
        spec = definition.step(command.step) if definition is not None else None
        if definition is None or spec is None:
            detail = f"{command.definition_name}@{command.definition_version} declares no " \
                f"step {command.step!r}"  # fmt: skip
            return StepOutcome(self._failed(command, "permanent", "undeclared", detail))
        declared = {t.name: t for t in definition.tools}
        toolbox = StepToolbox(spec, declared, self.tools, command, ledger, durable, self.clock,
                              tracing=self.tracing)  # fmt: skip
        view = scoped_view(spec, command.input)
        usage: StepUsage | None = None
        started = time.monotonic()
        try:
            if spec.handler is not None:
                output = await asyncio.wait_for(self._handle(spec, view, toolbox), spec.timeout_s)
            else:
                output, usage = await self._run_model(spec, view, toolbox)
        except (InvalidOutputError, StepError, ToolFailure, ApprovalMismatchError) as exc:
            usage = exc.usage if isinstance(exc, StepError) else None
            failed = self._failed(command, exc.error_class, exc.error_type, str(exc),
                                  usage, toolbox)  # fmt: skip
            return StepOutcome(failed, toolbox.calls, usage)
        except TimeoutError:
            detail = f"{spec.name} took longer than {spec.timeout_s}s"
            failed = self._failed(command, "transient", "timeout", detail, None, toolbox)
            return StepOutcome(failed, toolbox.calls)
        except Exception as exc:  # a bug in the step's own code: answered, never wedged
            log.exception("step %s of %s raised", command.step, command.workflow_id)
            detail = f"{spec.name} raised {type(exc).__name__}: {exc}"
            failed = self._failed(command, "permanent", "step_error", detail, None, toolbox)
            return StepOutcome(failed, toolbox.calls)
        now_ms = int(self.clock() * 1000)
        completed = completed_event(
            command,
            output,
            now_ms,
            self.actor,
            usage=_usage(usage),
            tool_calls=[ToolCallV1.model_validate(c.as_dict()) for c in toolbox.calls],
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        return StepOutcome(completed, toolbox.calls, usage)

    async def _handle(
        self, spec: StepSpec, view: Mapping[str, str], toolbox: StepToolbox
    ) -> BaseModel:
        assert spec.handler is not None
        raw = spec.handler(view, toolbox)
        if inspect.isawaitable(raw):
            raw = await raw
        return validated_output(spec, raw)

    async def _run_model(
        self, spec: StepSpec, view: Mapping[str, str], toolbox: StepToolbox
    ) -> tuple[BaseModel, StepUsage]:
        if spec.model is None:  # pragma: no cover - a StepSpec has a model or a handler
            raise StepError("permanent", "no_model", f"{spec.name!r} declares no model")
        # An override replaces the declared model and its fallback alike.
        key = (
            (self.model_override, None)
            if self.model_override
            else (spec.model, spec.fallback_model)
        )
        model = self._models.get(key)
        if model is None:
            try:
                model = instrumented(build_step_model(key[0], key[1], self.model_endpoint),
                                     self.tracing)  # fmt: skip
            except ValueError as exc:
                raise StepError("permanent", "no_model", str(exc)) from None
            self._models[key] = model
        schemas = {name: tool.input_type for name, tool in toolbox.declared.items()}
        try:
            run = await run_with_retries(spec, view, model,
                                         tools=model_tools(spec, toolbox, schemas))  # fmt: skip
        except StepError as exc:
            _record_refusals(toolbox, exc.refused_tools)
            raise
        _record_refusals(toolbox, run.refused_tools)
        return run.output, run.usage

    def _failed(
        self,
        command: StepCommand,
        error_class: str,
        error_type: str,
        detail: str,
        usage: StepUsage | None = None,
        toolbox: StepToolbox | None = None,
    ) -> StepFailedV2:
        now_ms = int(self.clock() * 1000)
        calls = (
            [ToolCallV1.model_validate(c.as_dict()) for c in toolbox.calls]
            if toolbox is not None
            else []
        )
        return failed_event(
            command, error_class, detail, error_type, now_ms, self.actor,
            usage=_usage(usage), tool_calls=calls,
        )  # fmt: skip
