"""What steps cost reaches the workflow's state once: step.completed v2's usage and tool calls."""

from __future__ import annotations

import msgspec

from processors.engine import AUDIT_RECORD, AuditRecord, StepCommand
from processors.events import (
    StepCompletedPayloadV2,
    StepCompletedV2,
    StepFailedPayloadV2,
    StepFailedV2,
    StepUsageV1,
    ToolCallV1,
    default_registry,
)
from tests.unit.test_engine_decide import Flow


def _completed(flow: Flow, command: StepCommand, outcome: str, cost: str | None) -> StepCompletedV2:
    v1 = flow.f.step_completed(command, {"outcome": outcome})
    payload = StepCompletedPayloadV2(
        **v1.payload.model_dump(),
        usage=StepUsageV1(model="openai:gpt-4o-mini", input_tokens=800, output_tokens=60,
                          requests=2, cost_usd=cost),
        tool_calls=[ToolCallV1(tool="lookup_order", impact="read", status="called")],
    )  # fmt: skip
    return StepCompletedV2(**{**v1.model_dump(exclude={"payload", "schema_version"})},
                           payload=payload)  # fmt: skip


def test_usage_is_added_once_per_result_and_kept_on_its_call() -> None:
    flow = Flow()
    classify = flow.one(flow.f.ticket_created()).commands[0]
    answer = _completed(flow, classify, "refund", "0.000150")
    propose = flow.one(answer).commands[0]
    assert flow.one(answer).kind == "duplicate"  # a redelivered answer: counted once
    flow.one(_completed(flow, propose, "proposed", None))  # a price nobody knows
    assert flow.state is not None
    usage = flow.state.usage
    assert (usage.model_steps, usage.requests, usage.input_tokens, usage.output_tokens) == (
        2, 4, 1600, 120,
    )  # fmt: skip
    assert usage.cost_usd == "0.000150"  # the known costs only
    [call] = [c for c in flow.state.step_calls if c.command_id == classify.command_id]
    assert call.usage is not None and call.usage.model == "openai:gpt-4o-mini"
    assert [t.tool for t in call.tool_calls] == ["lookup_order"]


def _failed(flow: Flow, command: StepCommand, error_class: str) -> StepFailedV2:
    v1 = flow.f.step_failed(command, error_class, "the output did not validate")
    payload = StepFailedPayloadV2(
        **v1.payload.model_dump(),
        usage=StepUsageV1(model="openai:gpt-4o-mini", input_tokens=300, output_tokens=40,
                          requests=3, cost_usd="0.000070"),
        tool_calls=[ToolCallV1(tool="issue_refund", impact="?", status="refused",
                               error_type="tool_not_allowed")],
    )  # fmt: skip
    return StepFailedV2(**{**v1.model_dump(exclude={"payload", "schema_version"})},
                        payload=payload)  # fmt: skip


def test_a_failed_result_counts_what_it_spent_and_the_audit_record_says_so() -> None:
    flow = Flow()
    classify = flow.one(flow.f.ticket_created()).commands[0]
    failure = _failed(flow, classify, "transient")
    retried = flow.one(failure)
    assert retried.kind == "retried" and retried.audit.usage is not None
    assert (retried.audit.usage.input_tokens, retried.audit.usage.requests) == (300, 3)
    assert AuditRecord.decode(retried.audit.encode()) == retried.audit  # v2 round trip
    assert flow.one(failure).kind == "duplicate"  # counted once
    second = retried.commands[0]
    flow.one(_completed(flow, second, "refund", "0.000150"))
    assert flow.state is not None
    usage = flow.state.usage
    assert (usage.model_steps, usage.requests, usage.input_tokens, usage.output_tokens) == (
        2, 5, 1100, 100,
    )  # fmt: skip
    assert usage.cost_usd == "0.000220"
    [first] = [c for c in flow.state.step_calls if c.command_id == classify.command_id]
    assert first.status == "retried" and first.usage is not None
    assert [(t.tool, t.status) for t in first.tool_calls] == [("issue_refund", "refused")]
    # A decision on anything but a step result carries no usage.
    assert flow.one(flow.f.ticket_created()).audit.usage is None


def test_an_audit_record_written_by_v1_still_reads_and_loses_only_its_offset() -> None:
    v1 = default_registry().record(AUDIT_RECORD, 1)
    assert v1 is not None
    datum = {"audit_id": "a-1", "workflow_id": "wf-1", "tenant": "acme",
             "definition_name": "support_triage", "definition_version": 1, "event_id": "e-1",
             "event_type": "ticket.created", "event_offset": 41, "decision": "applied",
             "status_before": None, "status_after": "classifying", "transition": None,
             "commands": ["c-1"], "emitted_ids": ["c-1"], "rejection_reason": None,
             "rejection_detail": None, "decided_at": 1_000}  # fmt: skip
    old = v1.header + v1.write(datum)
    record = AuditRecord.decode(old)
    assert (record.audit_id, record.event_id, record.commands, record.usage) == (
        "a-1", "e-1", ("c-1",), None,
    )  # fmt: skip
    assert "event_offset" not in msgspec.structs.asdict(record)
