"""The workflow state's table codec: msgpack format 1, Avro before it, and the schema."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from processors.engine import WORKFLOW_STATE, WorkflowState, WorkflowStateCodec, as_plain
from processors.engine.state import (
    CallTool,
    CallUsage,
    HeldEvent,
    HeldHeader,
    HistoryEntry,
    PendingApproval,
    StepCall,
    StepError,
    WorkflowTimer,
    WorkflowUsage,
    appended,
)
from processors.events import default_registry, encode_record
from tests.unit.test_events_models import check_struct

#: A state written by format 1 as first released; it must decode for as long as format 1 is
#: read, whatever fields are added since (regenerate only with a new format number).
FORMAT_1_SAMPLE = Path(__file__).parent / "data" / "workflow_state.format1.bin"


def full_state() -> WorkflowState:
    """A state with every field set away from its default."""
    return WorkflowState(
        workflow_id="wf-1",
        definition_name="support_triage",
        definition_version=1,
        tenant="acme",
        status="awaiting_approval",
        started_at=1,
        started_by="customer-1",
        updated_at=2,
        last_event_id="e-2",
        last_offset=9,
        context={"subject": "s"},
        completed_steps=("classify",),
        step_results={"classify": "{}"},
        step_calls=(
            StepCall(
                command_id="c",
                step="s",
                attempt=1,
                causation_id="e",
                issued_at=1,
                status="completed",
                input={"a": "b"},
                usage=CallUsage(model="m", input_tokens=3, output_tokens=4, requests=1),
                tool_calls=(CallTool(tool="t", impact="read", status="ok"),),
            ),
        ),
        retries={"s": 1},
        pending_approvals=(
            PendingApproval(
                approval_id="a",
                step="s",
                state="x",
                required_role="r",
                requested_at=1,
                due_at=3,
                causation_id="e",
                proposal_hash="h",
                requested_by=("customer-1",),
                quorum=2,
                granted_by=("rev-1",),
                proposal={"amount": "10"},
                summary="Refund 10",
            ),
        ),
        timers=(
            WorkflowTimer(
                timer_id="t", name="n", state="x", due_at=3, subject_id="a", causation_id="e"
            ),
        ),
        held=(
            HeldEvent(
                event_id="h",
                event_type="ticket.closed",
                tenant="acme",
                offset=4,
                held_at=1,
                expires_at=5,
                event=b"\xc3\x01\x00",
                headers=(
                    HeldHeader(key="k", value=None),
                    HeldHeader(key="k", value=b"1"),
                ),
            ),
        ),
        errors=(
            StepError(
                event_id="e", step="s", attempt=1, error_class="transient", message="m", at=1
            ),
        ),
        history=(HistoryEntry(event_id="e", event_type="t", trigger="t", to_state="x", at=1),),
        seen_event_ids=(
            "e-1",
            "e-2",
        ),
        final_outcome="refunded",
        completed_at=7,
        usage=WorkflowUsage(model_steps=1, requests=1, input_tokens=3, output_tokens=4),
    )


def test_a_state_round_trips_every_field_behind_format_byte_1() -> None:
    codec, state = WorkflowStateCodec(), full_state()
    data = codec.encode(state)
    assert data[0] == 1
    assert codec.decode(data) == state


def test_defaults_are_left_out_of_the_encoding() -> None:
    data = WorkflowStateCodec().encode(WorkflowState(workflow_id="wf", updated_at=5))
    assert msgspec.msgpack.decode(data[1:]) == {"workflow_id": "wf", "updated_at": 5, "usage": {}}


def test_a_state_written_by_format_1_still_decodes() -> None:
    assert WorkflowStateCodec().decode(FORMAT_1_SAMPLE.read_bytes()) == full_state()


def test_an_added_field_takes_its_default_when_an_older_record_lacks_it() -> None:
    class Grown(WorkflowState, kw_only=True):  # the next version, with one field more
        priority: int = 0

    data = FORMAT_1_SAMPLE.read_bytes()
    grown = msgspec.msgpack.decode(data[1:], type=Grown)
    assert grown.priority == 0 and as_plain(grown) == as_plain(full_state()) | {"priority": 0}


def test_a_state_written_as_avro_before_format_1_decodes_the_same() -> None:
    state = full_state()
    avro = encode_record(WORKFLOW_STATE, as_plain(state))
    assert avro[:2] == b"\xc3\x01"
    assert WorkflowStateCodec().decode(avro) == state


@pytest.mark.parametrize("data", [b"", b"\x07abc", b"\x01\x93", b"\x01\x80"])
def test_a_value_of_no_known_format_or_a_broken_one_is_an_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        WorkflowStateCodec().decode(data)


def test_the_structs_agree_with_the_latest_schema_field_by_field() -> None:
    entry = default_registry().record(WORKFLOW_STATE)
    assert entry is not None
    check_struct(entry.schema, WorkflowState, entry, WORKFLOW_STATE)


def test_the_check_catches_a_struct_that_drifted_from_the_schema() -> None:
    class Drifted(msgspec.Struct, kw_only=True):
        workflow_id: str
        updated_at: int

    entry = default_registry().record(WORKFLOW_STATE)
    assert entry is not None
    with pytest.raises(AssertionError):
        check_struct(entry.schema, Drifted, entry, WORKFLOW_STATE)


def test_clone_shares_nothing_mutable() -> None:
    state = full_state()
    copy = state.clone()
    assert copy == state and copy is not state
    copy.step_calls[0].input["a"] = "changed"
    copy.history = ()
    assert state.step_calls[0].input == {"a": "b"} and state.history


def test_appended_keeps_the_last_limit_items() -> None:
    assert appended((), "a", 3) == ("a",)
    assert appended(("a", "b"), "c", 3) == ("a", "b", "c")
    assert appended(("a", "b", "c"), "d", 3) == ("b", "c", "d")
    assert appended(("a", "b", "c", "d", "e"), "f", 3) == ("d", "e", "f")
