"""Steps run again in a dry-run replay: a write is never repeated (the ledger's outcome is
reused, or the call is refused), a model step runs only when asked, and the answer's time is
the replay's, not the clock's. Against the example payments service (a real HTTP server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from agentflow.replay_steps import DryRunSteps, dry_run_tools
from agentflow.testing.actors import STEP_WORKER
from agentflow.testing.stepworker import MemoryLedger
from agents.executor import StepExecutor
from examples.services.payments import PaymentsService
from examples.tools import example_tools
from examples.workflows import example_registry
from processors.events import Envelope, StepCompletedV2, StepFailedV2, decode
from tests.unit.test_toolbox import _command, _no_wait

AT_MS = 1_800_000_000_000


@pytest.fixture
def payments() -> Iterator[PaymentsService]:
    with PaymentsService() as service:
        yield service


def _dry(ledger: MemoryLedger, call_models: bool = True) -> DryRunSteps:
    registry = example_registry()
    executor = StepExecutor(registry, dry_run_tools(registry, None), STEP_WORKER)
    return DryRunSteps(executor, ledger.entries, call_models)


def _rerun(ledger: MemoryLedger) -> Envelope:
    """The refund command run again in a dry run over ``ledger``: its decoded answer."""
    dry = _dry(ledger)
    try:
        value = dry(_command(), AT_MS)
    finally:
        dry.close()
    assert value is not None
    return decode(value)


def test_a_rerun_refund_reuses_the_recorded_outcome_and_never_pays_again(
    payments: PaymentsService,
) -> None:
    ledger = MemoryLedger()
    live = StepExecutor(example_registry(), example_tools({"payments": payments.url}),
                        STEP_WORKER)  # fmt: skip
    first = asyncio.run(live.execute(_command(), ledger, _no_wait))
    assert isinstance(first.answer, StepCompletedV2) and len(payments.calls) == 1
    recorded = dict(ledger.entries)
    answer = _rerun(ledger)
    assert isinstance(answer, StepCompletedV2)
    assert answer.occurred_at == AT_MS
    assert json.loads(answer.payload.result_json) == json.loads(first.answer.payload.result_json)
    assert [c.status for c in answer.payload.tool_calls or []] == ["replayed"]
    assert len(payments.calls) == 1 and ledger.entries == recorded  # nothing new, nowhere


def test_a_rerun_write_without_a_recorded_outcome_is_refused(payments: PaymentsService) -> None:
    answer = _rerun(MemoryLedger())
    assert isinstance(answer, StepFailedV2)
    assert answer.payload.error_type == "replay_refused"
    assert "never calls a high_impact tool" in answer.payload.error_message
    assert payments.calls == []


def test_a_model_step_is_left_to_the_log_without_call_models() -> None:
    dry = _dry(MemoryLedger(), call_models=False)
    try:
        assert dry(_command(), AT_MS) is None
    finally:
        dry.close()
