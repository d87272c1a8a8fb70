"""One command's run in the step runner, between taking a slot and committing its answer:
the tenant's daily budget first, then the step inside its span; and the signed record that
answers it on ingress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agents.executor import StepExecutor, StepOutcome
from agents.scheduling import Pending
from agents.step_tracing import outcome_attributes, step_span
from agents.tenant_spend import DailyBudgets
from agents.toolbox import LedgerStore
from processors.engine.records import StepCommand
from processors.events import CONTENT_TYPE_AVRO, HEADER_CONTENT_TYPE, KeyRing, encode
from processors.steps.usage import TENANT_BUDGET_EXCEEDED
from streams.tracing import Tracing, traceparent_of

Header = tuple[str, bytes]


async def run_step(
    executor: StepExecutor,
    pending: Pending[StepCommand],
    ledger: LedgerStore,
    durable: Callable[[], Awaitable[None]],
    budgets: DailyBudgets | None = None,
    tracing: Tracing | None = None,
) -> tuple[StepOutcome, Header | None]:
    """The step's outcome (a refusal if its tenant is past its daily budget and it would call
    a model), and the ``traceparent`` its answer carries when the step was traced."""
    command = pending.item
    refused = None
    if budgets is not None and executor.calls_a_model(command):
        refused = budgets.refusal(command.tenant)
    with step_span(tracing, command, pending.traceparent) as span:
        if refused is not None:
            outcome = executor.refuse(command, TENANT_BUDGET_EXCEEDED, refused)
        else:
            outcome = await executor.execute(command, ledger, durable)
        if span is None:
            return outcome, None
        span.set_attributes(outcome_attributes(outcome))
        return outcome, traceparent_of(span)


def answer_record(
    outcome: StepOutcome, keyring: KeyRing, key_id: str, trace_header: Header | None
) -> tuple[bytes, bytes, list[tuple[str, str | bytes | None]]]:
    """The answer's key, Avro value and headers (content type, signature, ``traceparent``)."""
    answer = outcome.answer
    value = encode(answer)
    headers: list[tuple[str, str | bytes | None]] = [
        (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
        *keyring.headers(key_id, answer.key, value),
    ]
    if trace_header is not None:
        headers.append(trace_header)
    return answer.key, value, headers
