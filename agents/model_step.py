"""Running one model step: its instructions and scoped view in, a validated output out.

The model sees the rendered instructions and the scoped view (as JSON), nothing else. Its
output must validate against the step's output type; pydantic-ai asks again (up to
``output_retries``) when it does not, and a step whose output still fails is a permanent
``invalid_output``. Errors are classified for the engine: rate limits (429), timeouts, 5xx
and connection errors are transient; other 4xx are permanent.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from pydantic_ai import Agent, Tool, capture_run_messages
from pydantic_ai.exceptions import (
    FallbackExceptionGroup,
    ModelAPIError,
    ModelHTTPError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models import Model
from pydantic_ai.toolsets import FunctionToolset
from pydantic_ai.usage import UsageLimits

from processors.steps import render_instructions, validated_output
from workflows import StepSpec, Tools


@dataclass(frozen=True)
class StepUsage:
    """What a step cost: tokens, model requests, the model and how long it took."""

    model: str
    input_tokens: int
    output_tokens: int
    requests: int
    duration_ms: int
    #: From pydantic-ai's price data (genai-prices), where it knows the model; else None.
    cost_usd: str | None = None


@dataclass(frozen=True)
class StepRun:
    output: BaseModel
    usage: StepUsage
    #: Tools the model asked for outside the step's allowlist (it was told they do not exist).
    refused_tools: tuple[str, ...] = field(default=())


class StepError(Exception):
    """A step that failed: ``error_class`` is ``transient`` or ``permanent``, ``error_type``
    a stable code (``rate_limited``, ``timeout``, ``server_error``, ``connection``,
    ``invalid_output``, ``client_error``, ``token_limit``), ``retry_after_s`` the server's
    hint for a rate limit."""

    def __init__(
        self, error_class: str, error_type: str, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.error_type = error_type
        self.retry_after_s = retry_after_s
        #: What the step spent before it failed (re-asks of an ``invalid_output`` are paid
        #: for); None if no model answered.
        self.usage: StepUsage | None = None
        #: Tools the model asked for outside the allowlist before it failed.
        self.refused_tools: tuple[str, ...] = ()


def _retry_after(exc: ModelAPIError) -> float | None:
    """The server's ``Retry-After`` in seconds (pydantic-ai parses whole seconds and dates;
    a decimal number of seconds is read here too)."""
    if exc.retry_after is not None:
        return exc.retry_after
    value = (getattr(exc, "headers", None) or {}).get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _classified(exc: Exception) -> StepError:
    if isinstance(exc, FallbackExceptionGroup):  # every model failed: the first one says why
        return _classified(exc.exceptions[0])
    if isinstance(exc, ModelHTTPError):
        status = exc.status_code
        if status == 429:
            return StepError("transient", "rate_limited", str(exc), _retry_after(exc))
        if status >= 500 or status == 408:
            return StepError("transient", "server_error", str(exc))
        return StepError("permanent", "client_error", str(exc))
    if isinstance(exc, UsageLimitExceeded):
        return StepError("permanent", "token_limit", str(exc))
    if isinstance(exc, UnexpectedModelBehavior):
        return StepError("permanent", "invalid_output", str(exc))
    if isinstance(exc, TimeoutError):
        return StepError("transient", "timeout", str(exc))
    if isinstance(exc, ModelAPIError):  # rate limits without a status, connection errors
        kind = "rate_limited" if "RateLimit" in type(exc).__name__ else "connection"
        return StepError("transient", kind, str(exc), _retry_after(exc))
    raise exc


def model_tools(spec: StepSpec, tools: Tools | None, schemas: Mapping[str, Any]) -> list[Tool]:
    """The step's allowed tools as pydantic-ai tools; each call goes through ``tools`` (the
    runner's toolbox: allowlist, approvals, ledger). ``schemas``: tool name -> input type."""
    if tools is None:
        return []

    def bound(name: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def call(**arguments: Any) -> dict[str, Any]:
            output = await tools.call(name, arguments)
            return output.model_dump(mode="json")

        return call

    return [
        Tool.from_schema(bound(name), name, None, schemas[name].model_json_schema())
        for name in spec.tools
        if name in schemas
    ]


def _cost(messages: Sequence[ModelMessage]) -> str | None:
    """The run's cost in USD as decimal text, or None if any response's price is unknown."""
    total = Decimal(0)
    for message in messages:
        if isinstance(message, ModelResponse):
            try:
                total += Decimal(str(message.cost().total_price))
            except (LookupError, ValueError, AssertionError):  # an unknown model or price
                return None
    return str(total)


def _spent(messages: Sequence[ModelMessage], model: str, started: float) -> StepUsage | None:
    """What the model responses in ``messages`` cost; None if there are none."""
    responses = [m for m in messages if isinstance(m, ModelResponse)]
    if not responses:
        return None
    return StepUsage(
        model=model,
        input_tokens=sum(r.usage.input_tokens for r in responses),
        output_tokens=sum(r.usage.output_tokens for r in responses),
        requests=len(responses),
        duration_ms=int((time.monotonic() - started) * 1000),
        cost_usd=_cost(responses),
    )


def combined(first: StepUsage | None, then: StepUsage) -> StepUsage:
    """``then`` plus what an earlier try of the same step spent (``first``)."""
    if first is None:
        return then
    costs = (first.cost_usd, then.cost_usd)
    return replace(
        then,
        input_tokens=first.input_tokens + then.input_tokens,
        output_tokens=first.output_tokens + then.output_tokens,
        requests=first.requests + then.requests,
        duration_ms=first.duration_ms + then.duration_ms,
        cost_usd=None if None in costs else str(sum(Decimal(c or 0) for c in costs)),
    )


def _refused(messages: Sequence[ModelMessage], allowed: Sequence[str]) -> tuple[str, ...]:
    """Tools the model called that it was not given (pydantic-ai told it they are unknown);
    ``final_result*`` are pydantic-ai's own output tools."""
    return tuple(
        part.tool_name
        for message in messages
        if isinstance(message, ModelResponse)
        for part in message.parts
        if isinstance(part, ToolCallPart)
        and part.tool_name not in allowed
        and not part.tool_name.startswith("final_result")
    )


@functools.lru_cache(maxsize=256)
def _agent(output_type: type[BaseModel], output_retries: int) -> Agent[None, BaseModel]:
    """One agent per output type: building one compiles its output schema and graph, which
    cost more CPU than the rest of a step. The model, instructions and tools vary per run and
    are passed to ``run``; an agent holds no run state, so sharing it is safe."""
    return Agent(output_type=output_type, retries=output_retries)


async def run_model_step(
    spec: StepSpec,
    view: Mapping[str, str],
    model: Model,
    *,
    output_retries: int = 1,
    tools: Sequence[Tool] = (),
) -> StepRun:
    """Run ``spec`` on ``view`` with ``model`` and ``tools``; :class:`StepError` if it fails.
    A model that keeps calling a tool outside the allowlist fails as ``tool_not_allowed``."""
    agent = _agent(spec.output_type, output_retries)
    limits = UsageLimits(
        request_limit=output_retries + 2 + 2 * len(tools), output_tokens_limit=spec.max_tokens
    )
    started = time.monotonic()
    with capture_run_messages() as messages:
        try:
            result = await agent.run(
                json.dumps(dict(view), sort_keys=True),
                model=model,
                instructions=render_instructions(spec, view) or None,
                toolsets=[FunctionToolset(list(tools))] if tools else None,
                usage_limits=limits,
                timeout=spec.timeout_s,
            )
        except Exception as exc:  # classified, or raised again if it is not a model failure
            refused = _refused(messages, spec.tools)
            if refused and isinstance(exc, UnexpectedModelBehavior):
                error = StepError("permanent", "tool_not_allowed",
                                  f"the model kept calling {sorted(set(refused))}, outside the "
                                  f"allowlist {list(spec.tools)}")  # fmt: skip
            else:
                error = _classified(exc)
            error.usage = _spent(messages, model.model_name, started)
            error.refused_tools = refused
            raise error from exc
    usage = result.usage
    return StepRun(
        output=validated_output(spec, result.output),
        usage=StepUsage(
            model=model.model_name,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            requests=usage.requests,
            duration_ms=int((time.monotonic() - started) * 1000),
            cost_usd=_cost(result.all_messages()),
        ),
        refused_tools=_refused(messages, spec.tools),
    )


async def run_with_retries(
    spec: StepSpec,
    view: Mapping[str, str],
    model: Model,
    *,
    attempts: int = 3,
    base_delay_s: float = 0.5,
    max_delay_s: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
    tools: Sequence[Tool] = (),
) -> StepRun:
    """:func:`run_model_step`, retrying the transient errors the step lists in ``retry_on``
    up to ``attempts`` times: after the server's ``Retry-After`` when it gave one, else after
    an exponential backoff with jitter. What is still failing then goes to the engine, whose
    bounded re-issue takes over."""
    spent: StepUsage | None = None  # by the tries that failed, counted in what is returned
    for attempt in range(1, attempts + 1):
        try:
            run = await run_model_step(spec, view, model, tools=tools)
            return replace(run, usage=combined(spent, run.usage))
        except StepError as exc:
            if exc.usage is not None:
                exc.usage = spent = combined(spent, exc.usage)
            else:
                exc.usage = spent
            retryable = exc.error_class == "transient" and exc.error_type in spec.retry_on
            if not retryable or attempt == attempts:
                raise
            backoff = base_delay_s * 2 ** (attempt - 1) * (0.5 + jitter() / 2)
            delay = exc.retry_after_s if exc.retry_after_s is not None else backoff
            await sleep(min(delay, max_delay_s))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
