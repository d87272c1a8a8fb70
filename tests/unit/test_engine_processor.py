"""OrchestratorProcessor: timers and expiries through the test driver, quarantine records,
deterministic results, and the engine's Avro records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentflow.testing import EventFactory, MemoryState, WorkflowHarness, make_context
from processors.contract import Record, Result
from processors.engine import (
    TIMERS,
    AuditRecord,
    OrchestratorProcessor,
    StepCommand,
    WorkflowNotice,
    decode_step_command,
    ids,
)
from processors.engine.emits import held_record
from processors.engine.records import AUDIT_RECORD, STEP_COMMAND, WORKFLOW_NOTICE
from processors.engine.state import (
    HeldEvent,
    HeldHeader,
)
from processors.events import TimerFiredV1, decode_record, default_registry, encode
from processors.quarantine import ORIGIN_HEADER, REASON_HEADER
from processors.reasons import INVALID_TRANSITION, KEY_MISMATCH, ORPHAN_EVENT, PREREQUISITE_TIMEOUT
from streams.driver import TestDriver
from tests.unit.flows import APPROVAL_DEADLINE_MS, engine_registry
from tests.unit.test_events_models import check_struct

MINUTE = 60_000


def record_of(event: Any, offset: int, key: bytes | None = None) -> Record:
    return Record("events", 0, offset, key or event.key, encode(event))


def exact() -> OrchestratorProcessor:
    """Punctuating every millisecond, so a test can step right up to a due time."""
    return OrchestratorProcessor(engine_registry(), punctuate_interval_ms=1)


def test_should_fire_an_approval_deadline_exactly_once(tmp_path: Path) -> None:
    with TestDriver([exact()], tmp_path) as driver:
        h = WorkflowHarness(driver, "wf-1")
        h.send(h.events.ticket_created())
        h.send(h.events.step_completed(h.command(), {"outcome": "refund"}))
        h.send(h.events.step_completed(h.command(), {"amount_minor": 4999}))
        request = h.approval_request()
        h.audits()
        timer = h.state().timers[0]
        assert timer.due_at == APPROVAL_DEADLINE_MS  # armed at driver time 0
        assert timer.subject_id == request.payload.approval_id
        driver.advance_time(APPROVAL_DEADLINE_MS - 1)
        assert h.timer_events() == [] and h.audits() == []
        driver.advance_time(1)
        [fired] = h.timer_events()
        assert isinstance(fired, TimerFiredV1)
        assert fired.event_id == ids.timer_event_id("wf-1", "approval_deadline", timer.due_at)
        assert (fired.payload.kind, fired.occurred_at) == ("approval_deadline", timer.due_at)
        [audit] = h.audits()
        assert (audit.event_id, audit.decision) == (fired.event_id, "applied")
        assert (audit.status_before, audit.status_after) == ("awaiting_approval", "escalated")
        [notice] = h.outputs()
        assert isinstance(notice, WorkflowNotice) and notice.outcome == "escalated"
        driver.advance_time(10 * APPROVAL_DEADLINE_MS)
        assert h.timer_events() == [] and h.audits() == []
        index = [list(driver.partition_state(p).range(TIMERS, b"", b"\xff")) for p in range(4)]
        assert index == [[], [], [], []]
        # the timer event coming back from the log is a duplicate
        driver.pipe("events", fired.key, encode(fired))
        [dup] = h.audits()
        assert dup.decision == "duplicate" and h.outputs() == []


def test_should_cancel_a_deadline_when_the_state_is_left(tmp_path: Path) -> None:
    with TestDriver([OrchestratorProcessor(engine_registry())], tmp_path) as driver:
        h = WorkflowHarness(driver, "wf-1")
        h.send(h.events.ticket_created())
        h.send(h.events.step_completed(h.command(), {"outcome": "refund"}))
        h.send(h.events.step_completed(h.command(), {}))
        h.send(h.events.approval_granted(h.approval_request()))
        assert h.state().timers == ()
        driver.advance_time(2 * APPROVAL_DEADLINE_MS)
        assert h.timer_events() == []
        assert h.state().status == "executing_refund"


def test_should_quarantine_an_orphan_that_never_starts(tmp_path: Path) -> None:
    with TestDriver([exact()], tmp_path) as driver:
        h = WorkflowHarness(driver, "wf-orphan")
        closed = h.events.ticket_closed()
        driver.pipe("events", closed.key, encode(closed), headers=(("af-signature", b"abc"),))
        [held] = h.audits()
        assert held.decision == "held"
        driver.advance_time(10 * MINUTE - 1)
        assert h.quarantined() == []
        driver.advance_time(1)
        [q] = h.quarantined()
        assert q["reason"] == ORPHAN_EVENT and q["event_id"] == closed.event_id
        assert q["original_value"] == encode(closed)
        assert q["original_headers"] == [{"key": "af-signature", "value": b"abc"}]
        # Decided at its expiry, not where it was read: no offset (a replay reads another topic).
        assert (q["original_topic"], q["original_offset"]) == ("events", -1)
        [expired] = h.audits()
        assert (expired.decision, expired.rejection_reason) == ("expired", ORPHAN_EVENT)
        assert h.state().held == ()


def test_should_quarantine_an_event_whose_prerequisite_never_comes(tmp_path: Path) -> None:
    with TestDriver([OrchestratorProcessor(engine_registry())], tmp_path) as driver:
        h = WorkflowHarness(driver, "wf-1")
        h.send(h.events.ticket_created())
        replied = h.events.customer_replied()  # only waiting_for_customer takes it
        h.send(replied)
        assert [a.decision for a in h.audits()] == ["applied", "held"]
        driver.advance_time(10 * MINUTE)
        [q] = h.quarantined()
        assert q["reason"] == PREREQUISITE_TIMEOUT and q["event_id"] == replied.event_id
        assert h.state().status == "classifying" and h.state().held == ()


def test_should_quarantine_an_invalid_transition_with_the_original_bytes() -> None:
    proc = OrchestratorProcessor(engine_registry())
    mem = MemoryState(proc.tables)
    f = EventFactory("wf-1")
    created = f.ticket_created()
    mem.apply(proc.process(record_of(created, 0), mem, make_context(5)))
    again = f.ticket_created()  # a second start event for a running workflow
    result = proc.process(record_of(again, 1), mem, make_context(6))
    [quarantined] = [e for e in result.emits if e.role == "quarantine"]
    assert quarantined.headers == (
        (REASON_HEADER, INVALID_TRANSITION.encode()),
        (ORIGIN_HEADER, b"orchestrator/1"),
    )
    name, body = decode_record(quarantined.value or b"")
    assert name == "agentflow.internal.QuarantineRecord"
    assert body["original_value"] == encode(again) and body["original_offset"] == 1
    assert body["reason"] == INVALID_TRANSITION and body["quarantined_by"] == "orchestrator/1"
    assert [e.role for e in result.emits] == ["quarantine", "audit"]


def test_should_quarantine_a_record_keyed_by_another_workflow() -> None:
    proc = OrchestratorProcessor(engine_registry())
    mem = MemoryState(proc.tables)
    created = EventFactory("wf-1").ticket_created()
    result = proc.process(record_of(created, 0, key=b"wf-2"), mem, make_context(5))
    assert [e.headers[0] for e in result.emits] == [(REASON_HEADER, KEY_MISMATCH.encode())]
    assert result.writes == ()


def test_should_quarantine_an_undecodable_record() -> None:
    proc = OrchestratorProcessor(engine_registry())
    mem = MemoryState(proc.tables)
    result = proc.process(Record("events", 0, 0, b"k", b"junk"), mem, make_context(5))
    assert [e.headers[0] for e in result.emits] == [(REASON_HEADER, b"undecodable")]


def test_should_produce_identical_results_for_identical_inputs() -> None:
    def run() -> list[Result]:
        proc = OrchestratorProcessor(engine_registry())
        mem = MemoryState(proc.tables)
        f = EventFactory("wf-1")
        results = []
        created = f.ticket_created()
        closed = f.ticket_closed()
        for offset, event in enumerate([closed, created]):
            result = proc.process(record_of(event, offset), mem, make_context(100 + offset))
            mem.apply(result)
            results.append(result)
        results.append(proc.punctuate(mem, make_context(10**12)))
        return results

    first, second = run(), run()
    assert first == second
    assert len(first[1].emits) > 3  # the start and the released ticket.closed


@pytest.mark.parametrize(
    ("schema_name", "model"),
    [
        (STEP_COMMAND, StepCommand),
        (AUDIT_RECORD, AuditRecord),
        (WORKFLOW_NOTICE, WorkflowNotice),
    ],
)
def test_models_agree_with_their_schemas_field_by_field(schema_name: str, model: type[Any]) -> None:
    # encode_model trusts the Struct's declared types (Int32/Int64 bounds, literals) instead of
    # validating each datum against the schema again; this agreement is what makes that safe.
    entry = default_registry().record(schema_name)
    assert entry is not None
    check_struct(entry.schema, model, entry, schema_name)


def test_should_give_a_held_event_back_with_its_headers_as_they_came_null_values_included() -> None:
    held = _held(HeldHeader(key="x", value=None), HeldHeader(key="x", value=b"1"))
    record = held_record(held, "wf-1", 2)
    assert (record.key, record.value, record.offset, record.partition) == (
        b"wf-1",
        b"\xc3\x01",
        4,
        2,
    )
    assert record.headers == (("x", None), ("x", b"1"))


def _held(*headers: HeldHeader) -> HeldEvent:
    return HeldEvent(
        event_id="h",
        event_type="ticket.closed",
        tenant="acme",
        offset=4,
        held_at=1,
        expires_at=5,
        event=b"\xc3\x01",
        headers=tuple(headers),
    )


def test_step_commands_carry_their_routing_fields_as_headers(tmp_path: Path) -> None:
    """The step contract: a worker in any language reads these without decoding Avro."""
    with TestDriver([OrchestratorProcessor(engine_registry())], tmp_path) as driver:
        created = EventFactory("wf-h").ticket_created()
        driver.pipe("events", created.key, encode(created))
        [emit] = driver.read("steps")
    command = decode_step_command(emit.value or b"")
    assert dict(emit.headers) == {
        "content-type": b"application/avro",
        "af-command-id": command.command_id.encode(),
        "af-step": b"classify",
        "af-attempt": b"1",
        "af-workflow-id": b"wf-h",
        "af-tenant": b"acme",
        "af-causation-id": created.event_id.encode(),
        "af-step-id": ids.step_id(created.event_id, "classify").encode(),
    }
