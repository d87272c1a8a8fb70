"""A workflow's spending budget, enforced by the engine from the usage in step results: the
result that takes it past the budget moves it to ``budget_exceeded`` instead of its
transition, once, and a replay of the log decides the same."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agentflow.testing import WorkflowHarness
from agentflow.testing.actors import STEP_WORKER
from examples.workflows import EXAMPLE_DEFINITIONS
from examples.workflows.scripted import Classification, RefundProposal
from processors.engine import OrchestratorProcessor
from processors.engine.apply import BUDGET_TRIGGER
from processors.events import StepUsageV1
from processors.steps import completed_event
from streams.driver import TestDriver
from workflows import Budget, DefinitionRegistry

WF = "wf-budget-1"


def _registry(max_tokens: int) -> DefinitionRegistry:
    out = []
    for d in EXAMPLE_DEFINITIONS:
        if d.name == "support_triage":
            d = replace(
                d,
                states=(*d.states, "budget_exceeded"),
                terminal_states=(*d.terminal_states, "budget_exceeded"),
                budget=Budget(max_tokens=max_tokens),
            )
        out.append(d)
    return DefinitionRegistry(out)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[WorkflowHarness]:
    with TestDriver([OrchestratorProcessor(_registry(150))], tmp_path) as driver:
        harness = WorkflowHarness(driver, WF)
        yield harness
        harness.assert_replays_identically()


def _usage(tokens_in: int, tokens_out: int) -> StepUsageV1:
    return StepUsageV1(model="test:model", input_tokens=tokens_in, output_tokens=tokens_out,
                       requests=1, cost_usd=None)  # fmt: skip


def test_the_result_that_passes_the_budget_ends_the_workflow_in_budget_exceeded(
    h: WorkflowHarness,
) -> None:
    h.send(h.events.ticket_created())
    classify = h.command()
    h.send(completed_event(classify, Classification(outcome="refund", confidence="high"),
                           h.driver.now_ms, STEP_WORKER, usage=_usage(90, 10)))  # fmt: skip
    assert h.state().status == "proposing_refund"  # 100 tokens: within the budget
    propose = h.command()
    proposal = RefundProposal(outcome="proposed", amount="42.00", currency="EUR")
    h.send(completed_event(propose, proposal, h.driver.now_ms, STEP_WORKER,
                           usage=_usage(60, 20)))  # fmt: skip
    st = h.state()
    assert (st.status, st.final_outcome) == ("budget_exceeded", "budget_exceeded")
    assert st.usage.input_tokens + st.usage.output_tokens == 180
    assert st.history[-1].trigger == BUDGET_TRIGGER
    assert st.pending_approvals == () and h.commands() == []  # no approval, no further step
    [notice] = [o for o in h.outputs() if getattr(o, "kind", None) == "workflow.completed"]
    assert notice.outcome == "budget_exceeded"  # type: ignore[union-attr]
    [audit] = h.audits()[-1:]
    assert audit.transition is not None and audit.transition.to_state == "budget_exceeded"


def test_a_budget_must_name_a_terminal_state() -> None:
    from workflows import DefinitionError

    [triage] = [d for d in EXAMPLE_DEFINITIONS if d.name == "support_triage"]
    with pytest.raises(DefinitionError, match="must be a terminal state"):
        replace(triage, budget=Budget(max_tokens=10))
