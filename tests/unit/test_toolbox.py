"""Tools through the executor: allowlist, tenants, approvals and the side-effect ledger, against
the example payments service (a real local HTTP server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from agentflow.testing.actors import STEP_WORKER
from agentflow.testing.stepworker import MemoryLedger
from agents.executor import StepExecutor, StepOutcome
from agents.toolbox import LedgerStore, StepToolbox, ToolRefused
from examples.services.payments import PaymentsService
from examples.tools import example_tools
from examples.workflows import example_registry
from processors.engine import ids
from processors.engine.records import StepCommand
from processors.events import StepCompletedV2, StepFailedV2
from processors.steps import call_key, idempotency_key, intent_entry

CAUSE = "evt-granted-1"
PROPOSAL = json.dumps({"outcome": "proposed", "amount": "42.00", "currency": "EUR"})


def _command(attempt: int = 1, input_changes: dict[str, str] | None = None) -> StepCommand:
    granted = {
        "event.type": "approval.granted",
        "event.changes": json.dumps(
            [{"field": "amount", "old_value": "42.00", "new_value": "30.00"}]
        ),
        "result.propose_refund": PROPOSAL,
        "context.ticket_id": "T-1",
    }
    return StepCommand(
        command_id=ids.command_id(CAUSE, "execute_refund", attempt),
        workflow_id="wf-1",
        tenant="acme",
        definition_name="support_triage",
        definition_version=1,
        step="execute_refund",
        attempt=attempt,
        causation_id=CAUSE,
        issued_at=0,
        input={**granted, **(input_changes or {})},
    )


@pytest.fixture
def payments() -> Iterator[PaymentsService]:
    with PaymentsService() as service:
        yield service


async def _no_wait() -> None:
    return None


def _run(payments: PaymentsService, command: StepCommand, ledger: LedgerStore) -> StepOutcome:
    executor = StepExecutor(example_registry(), example_tools({"payments": payments.url}),
                            STEP_WORKER)  # fmt: skip
    return asyncio.run(executor.execute(command, ledger, _no_wait))


def test_a_refund_pays_the_approved_amount_once_across_redeliveries_and_retries(
    payments: PaymentsService,
) -> None:
    ledger = MemoryLedger()
    first = _run(payments, _command(), ledger)
    assert isinstance(first.answer, StepCompletedV2)
    assert json.loads(first.answer.payload.result_json)["amount"] == "30.00"  # the edit
    key = idempotency_key("wf-1", _command().step_id, 0)
    assert [c.as_dict() for c in first.calls] == [
        {"tool": "issue_refund", "impact": "high_impact", "status": "called",
         "idempotency_key": key}
    ]  # fmt: skip
    again = _run(payments, _command(), ledger)  # a redelivery
    retried = _run(payments, _command(attempt=2), ledger)  # a retry: a new command id
    assert [c.status for c in again.calls + retried.calls] == ["replayed", "replayed"]
    # The same answer: its id and result (its tool call is now a replay from the ledger).
    assert isinstance(again.answer, StepCompletedV2)
    assert (again.answer.event_id, again.answer.payload.result_json) == (
        first.answer.event_id,
        first.answer.payload.result_json,
    )
    assert [(c["key"], c["body"]["amount"]) for c in payments.calls] == [(key, "30.00")]
    assert len(payments.effective_refunds()) == 1


def test_a_lost_answer_is_asked_again_with_the_same_key_inside_the_step(
    payments: PaymentsService,
) -> None:
    payments.fail_after_effect = 1  # the refund is made, the answer is lost (a 503)
    outcome = _run(payments, _command(), MemoryLedger())
    assert isinstance(outcome.answer, StepCompletedV2)
    key = idempotency_key("wf-1", _command().step_id, 0)
    assert [(c["key"], c["effective"]) for c in payments.calls] == [(key, True), (key, False)]
    assert len(payments.effective_refunds()) == 1


def test_an_intent_without_an_outcome_is_reconciled_not_repeated(
    payments: PaymentsService,
) -> None:
    # A runner recorded and committed the intent, made the refund, and died before the outcome.
    ledger = MemoryLedger()
    key = idempotency_key("wf-1", _command().step_id, 0)
    body = {"amount": "30.00", "currency": "EUR", "reference": "T-1"}
    ledger.put(call_key(key), intent_entry("issue_refund", body, at_ms=1))
    payments.refund(key, body)
    outcome = _run(payments, _command(attempt=2), ledger)
    assert isinstance(outcome.answer, StepCompletedV2)
    assert [c.status for c in outcome.calls] == ["reconciled"]
    assert len(payments.calls) == 1 and len(payments.effective_refunds()) == 1
    recorded = ledger.get(call_key(key))
    assert recorded is not None and recorded["outcome"]["refund_id"] == "rf-00001"


@pytest.mark.parametrize(
    ("changes", "error_type"),
    [
        ({"event.type": "step.completed"}, "approval_required"),
        (
            {
                "result.propose_refund": json.dumps({"amount": "500.00", "currency": "EUR"}),
                "event.changes": "[]",
            },
            None,
        ),
    ],
)
def test_a_high_impact_call_runs_only_with_what_was_approved(
    payments: PaymentsService, changes: dict[str, str], error_type: str | None
) -> None:
    outcome = _run(payments, _command(input_changes=changes), MemoryLedger())
    if error_type is None:  # approved as proposed: 500.00 is what is paid
        assert isinstance(outcome.answer, StepCompletedV2)
        assert [c["body"]["amount"] for c in payments.calls] == ["500.00"]
        return
    assert isinstance(outcome.answer, StepFailedV2)
    assert (outcome.answer.payload.error_class, outcome.answer.payload.error_type) == (
        "permanent",
        error_type,
    )
    assert payments.calls == []


@pytest.mark.parametrize(
    ("tool", "args", "command_input", "error_type"),
    [
        ("issue_refund", {"amount": "30.00", "currency": "EUR", "reference": "T-1"},
         {"event.type": "step.completed"}, "approval_required"),
        ("issue_refund", {"amount": "42.00", "currency": "EUR", "reference": "T-1"},
         {}, "not_approved"),  # the reviewer cut it to 30.00
        ("issue_refund", {"amount": "30.00", "currency": "GBP", "reference": "T-1"},
         {}, "invalid_tool_input"),
        ("send_email", {"to": "x"}, {}, "tool_not_allowed"),
    ],
)  # fmt: skip
def test_the_toolbox_refuses_what_the_step_may_not_do(
    payments: PaymentsService,
    tool: str,
    args: dict[str, str],
    command_input: dict[str, str],
    error_type: str,
) -> None:
    definition = example_registry().get("support_triage", 1)
    assert definition is not None
    spec = definition.step("execute_refund")
    assert spec is not None
    toolbox = StepToolbox(
        spec,
        {t.name: t for t in definition.tools},
        example_tools({"payments": payments.url}),
        _command(input_changes=command_input),
        MemoryLedger(),
        _no_wait,
    )
    with pytest.raises(ToolRefused) as refused:
        asyncio.run(toolbox.call(tool, args))
    assert (refused.value.error_class, refused.value.error_type) == ("permanent", error_type)
    assert [(c.tool, c.status, c.error_type) for c in toolbox.calls] == [
        (tool, "refused", error_type)
    ]
    assert payments.calls == []


def test_a_tool_serves_only_its_tenants(payments: PaymentsService) -> None:
    definition = example_registry().get("support_triage", 1)
    assert definition is not None
    spec = definition.step("execute_refund")
    assert spec is not None
    only_globex = {t.name: replace(t, tenants=("globex",)) for t in definition.tools}
    toolbox = StepToolbox(spec, only_globex, example_tools({"payments": payments.url}),
                          _command(), MemoryLedger(), _no_wait)  # fmt: skip
    args = {"amount": "30.00", "currency": "EUR", "reference": "T-1"}
    with pytest.raises(ToolRefused) as refused:
        asyncio.run(toolbox.call("issue_refund", args))
    assert refused.value.error_type == "tool_not_allowed" and payments.calls == []


def test_a_tool_serves_only_its_roles(payments: PaymentsService) -> None:
    definition = example_registry().get("support_triage", 1)
    assert definition is not None
    spec = definition.step("execute_refund")
    assert spec is not None and spec.role == "refunds"
    # The registry was swapped under the definition: the runner still refuses the call.
    other_role = replace(spec, role="triage")
    toolbox = StepToolbox(other_role, {t.name: t for t in definition.tools},
                          example_tools({"payments": payments.url}), _command(), MemoryLedger(),
                          _no_wait)  # fmt: skip
    args = {"amount": "30.00", "currency": "EUR", "reference": "T-1"}
    with pytest.raises(ToolRefused) as refused:
        asyncio.run(toolbox.call("issue_refund", args))
    assert refused.value.error_type == "tool_not_allowed" and payments.calls == []
    assert "serves only the roles ['refunds']" in str(refused.value)
    assert [(c.tool, c.status) for c in toolbox.calls] == [("issue_refund", "refused")]
