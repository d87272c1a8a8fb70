"""The tools one running step may call: allowlist, tenants, approvals and the ledger.

A :class:`StepToolbox` is made for each command a runner executes. Every call goes through
:meth:`StepToolbox.call`, which:

1. refuses a tool outside the step's allowlist, or one that does not serve the command's
   tenant or the step's role, as ``tool_not_allowed`` (recorded in :attr:`StepToolbox.calls`);
2. validates the arguments with the tool's input type;
3. for a ``high_impact`` tool, requires a granted approval and the approved arguments
   (:mod:`processors.steps.approvals`);
4. for ``write`` and ``high_impact`` tools, keys the call by workflow, logical step and call
   index, and consults the ledger (:mod:`processors.steps.ledger`): it replays a recorded
   outcome, reconciles an intent without one, or records the intent, waits until that intent
   is durable, calls, and records the outcome.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from agents.step_tracing import tool_span
from agents.tools import (
    Reconciler,
    ToolBinding,
    ToolContext,
    ToolFailure,
    ToolRegistry,
    ToolResult,
)
from processors.engine.records import StepCommand
from processors.events import validation_detail
from processors.steps import (
    approved_arguments,
    call_key,
    check_approved,
    idempotency_key,
    intent_entry,
    next_action,
    outcome_entry,
)
from streams.tracing import Tracing
from workflows import StepSpec, ToolSpec


class LedgerStore(Protocol):
    """The ledger table of the command's partition (the runner's changelog-backed state)."""

    def get(self, key: bytes) -> dict[str, Any] | None: ...

    def put(self, key: bytes, value: dict[str, Any]) -> None: ...


class ToolRefused(ToolFailure):
    """A call the step may not make: ``tool_not_allowed``, ``approval_required``,
    ``not_approved``, ``invalid_tool_input`` or ``ledger_conflict``. Permanent."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__("permanent", error_type, message)


@dataclass(frozen=True)
class ToolCallRecord:
    """One call as the step's result reports it."""

    tool: str
    impact: str
    status: str  # called, replayed, reconciled, refused, failed
    idempotency_key: str | None = None
    error_type: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"tool": self.tool, "impact": self.impact, "status": self.status}
        if self.idempotency_key is not None:
            out["idempotency_key"] = self.idempotency_key
        if self.error_type is not None:
            out["error_type"] = self.error_type
        return out


@dataclass
class StepToolbox:
    """Implements :class:`workflows.Tools` for one command."""

    spec: StepSpec
    declared: Mapping[str, ToolSpec]
    registry: ToolRegistry
    command: StepCommand
    ledger: LedgerStore
    #: Resolves once every ledger write made so far is committed (the runner commits early).
    durable: Callable[[], Awaitable[None]]
    clock: Callable[[], float] = time.time
    #: Tries of a call that fails transient (a 5xx, a refused connection) before the step fails.
    attempts: int = 3
    backoff_s: float = 0.5
    calls: list[ToolCallRecord] = field(default_factory=list)
    #: A span per call, child of the step's; None: tracing off.
    tracing: Tracing | None = None
    _effects: int = 0

    async def call(self, name: str, args: BaseModel | Mapping[str, object]) -> BaseModel:
        declared = self.declared.get(name)
        with tool_span(self.tracing, name, declared.impact if declared else "?") as span:
            before = len(self.calls)
            try:
                return await self._call(name, args)
            finally:
                if span is not None and len(self.calls) > before:
                    last = self.calls[-1]
                    span.set_attribute("agentflow.tool_status", last.status)
                    if last.idempotency_key:
                        span.set_attribute("agentflow.idempotency_key", last.idempotency_key)
                    if last.error_type:
                        span.set_attribute("agentflow.reason_codes", [last.error_type])

    async def _call(self, name: str, args: BaseModel | Mapping[str, object]) -> BaseModel:
        tool = self.declared.get(name)
        if tool is None or name not in self.spec.tools:
            raise self._refuse(
                name,
                "?",
                "tool_not_allowed",
                f"{name!r} is not in the allowlist "
                f"of step {self.spec.name!r}: {list(self.spec.tools)}",
            )
        if not tool.serves_role(self.spec.role):
            raise self._refuse(
                name,
                tool.impact,
                "tool_not_allowed",
                f"{name!r} serves only the roles {list(tool.roles)}, "
                f"not step {self.spec.name!r}'s role {self.spec.role!r}",
            )
        if not tool.serves(self.command.tenant):
            raise self._refuse(
                name,
                tool.impact,
                "tool_not_allowed",
                f"{name!r} does not serve tenant {self.command.tenant!r}",
            )
        raw = args.model_dump(mode="json") if isinstance(args, BaseModel) else dict(args)
        try:
            validated = tool.input_type.model_validate(raw)
        except ValidationError as exc:
            raise self._refuse(
                name, tool.impact, "invalid_tool_input", f"{name}: {validation_detail(exc)}"
            ) from None
        arguments = validated.model_dump(mode="json")
        if tool.approves is not None:
            try:
                check_approved(arguments, approved_arguments(self.command.input, tool.approves))
            except ValueError as exc:
                error_type = getattr(exc, "error_type", "not_approved")
                raise self._refuse(name, tool.impact, error_type, str(exc)) from None
        binding = self.registry.get(name)
        if binding is None:
            raise self._refuse(
                name, tool.impact, "tool_not_bound", f"{name!r} has no implementation"
            )
        if tool.impact == "read":
            context = self._context(None)
            output = await self._run(binding, tool, validated, context, None)
            return output
        return await self._effect(binding, tool, validated, arguments)

    async def _effect(
        self, binding: ToolBinding, tool: ToolSpec, validated: BaseModel, arguments: dict[str, Any]
    ) -> BaseModel:
        key = idempotency_key(self.command.workflow_id, self.command.step_id, self._effects)
        self._effects += 1
        entry = self.ledger.get(call_key(key))
        try:
            action = next_action(entry, tool.name, arguments)
        except ValueError as exc:
            raise self._refuse(tool.name, tool.impact, "ledger_conflict", str(exc)) from None
        context = self._context(key)
        if action == "replay" and entry is not None:
            self.calls.append(ToolCallRecord(tool.name, tool.impact, "replayed", key))
            return tool.output_type.model_validate(entry["outcome"])
        if action == "reconcile" and entry is not None and binding.reconcile is not None:
            found = await self._reconcile(binding.reconcile, tool, context)
            if found is not None:
                output = self._output(tool, found)
                self._record_outcome(key, entry, output)
                self.calls.append(ToolCallRecord(tool.name, tool.impact, "reconciled", key))
                return output
        intent = entry if entry is not None else intent_entry(tool.name, arguments, self._now())
        if entry is None:
            self.ledger.put(call_key(key), intent)
            await self.durable()  # the intent is committed before the effect can happen
        return await self._run(binding, tool, validated, context, intent)

    async def _run(
        self,
        binding: ToolBinding,
        tool: ToolSpec,
        validated: BaseModel,
        context: ToolContext,
        intent: dict[str, Any] | None,
    ) -> BaseModel:
        key = context.idempotency_key
        for attempt in range(1, self.attempts + 1):
            try:
                output = self._output(tool, await binding.run(validated, context))
                break
            except ToolFailure as exc:
                # Transient: again, with the same key (the back-end deduplicates a call that
                # took effect), after a jittered backoff; then the step fails transient.
                if exc.error_class != "transient" or attempt == self.attempts:
                    self.calls.append(
                        ToolCallRecord(tool.name, tool.impact, "failed", key, exc.error_type)
                    )
                    raise
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()))
            except Exception as exc:  # a tool bug or an unclassified error: not retried
                self.calls.append(
                    ToolCallRecord(tool.name, tool.impact, "failed", key, "tool_error")
                )
                raise ToolFailure("permanent", "tool_error", f"{tool.name}: {exc}") from exc
        if intent is not None and key is not None:
            self._record_outcome(key, intent, output)
        self.calls.append(ToolCallRecord(tool.name, tool.impact, "called", key))
        return output

    async def _reconcile(
        self, reconcile: Reconciler, tool: ToolSpec, context: ToolContext
    ) -> ToolResult | None:
        """What the back-end has for the call's key; its failures classified like a call's."""
        try:
            return await reconcile(context)
        except ToolFailure as exc:
            self.calls.append(
                ToolCallRecord(tool.name, tool.impact, "failed", context.idempotency_key,
                               exc.error_type)
            )  # fmt: skip
            raise
        except Exception as exc:
            self.calls.append(ToolCallRecord(tool.name, tool.impact, "failed",
                                             context.idempotency_key, "tool_error"))  # fmt: skip
            raise ToolFailure("permanent", "tool_error", f"{tool.name}: {exc}") from exc

    def _record_outcome(self, key: str, intent: dict[str, Any], output: BaseModel) -> None:
        entry = outcome_entry(intent, output.model_dump(mode="json"), self._now())
        self.ledger.put(call_key(key), entry)

    def _output(self, tool: ToolSpec, result: ToolResult) -> BaseModel:
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        try:
            return tool.output_type.model_validate(data)
        except ValidationError as exc:
            raise ToolFailure(
                "permanent", "invalid_tool_output", f"{tool.name}: {validation_detail(exc)}"
            ) from None

    def _context(self, key: str | None) -> ToolContext:
        c = self.command
        return ToolContext(c.tenant, c.workflow_id, c.step, key)

    def _refuse(self, name: str, impact: str, error_type: str, message: str) -> ToolRefused:
        self.calls.append(ToolCallRecord(name, impact, "refused", error_type=error_type))
        return ToolRefused(error_type, message)

    def _now(self) -> int:
        return int(self.clock() * 1000)
