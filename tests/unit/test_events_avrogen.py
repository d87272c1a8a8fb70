"""The generated Avro writers and readers agree with fastavro byte for byte, on every schema."""

from __future__ import annotations

import io
from typing import Any

import msgspec
import pytest
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentflow.testing import EventFactory, sample_events
from examples.workflows import example_registry
from processors.engine import Decision, WorkflowNotice, WorkflowState, process_event
from processors.engine.records import AUDIT_RECORD, STEP_COMMAND, WORKFLOW_NOTICE
from processors.events import (
    ApprovalRequestedV1,
    Envelope,
    EventDecodeError,
    decode_record,
    default_registry,
)
from processors.events.avrogen import compile_reader, compile_writer
from processors.events.registry import SchemaEntry

ENTRIES = list(default_registry())
AGREE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def datum_of(schema: Any) -> st.SearchStrategy[Any]:
    """Data that conform to a wire schema, edge values included."""
    if isinstance(schema, list):
        other = next(s for s in schema if s != "null")
        return st.none() | datum_of(other)
    kind = schema if isinstance(schema, str) else schema["type"]
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: datum_of(f["type"]) for f in schema["fields"]})
    if kind == "array":
        return st.lists(datum_of(schema["items"]), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=6), datum_of(schema["values"]), max_size=3)
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    simple: dict[str, st.SearchStrategy[Any]] = {
        "string": st.text(max_size=40),
        "bytes": st.binary(max_size=40),
        "int": st.integers(-(2**31), 2**31 - 1),
        "long": st.integers(-(2**63), 2**63 - 1),
        "boolean": st.booleans(),
        "double": st.floats(allow_nan=False),
        "null": st.none(),
    }
    return simple[kind]


def fastavro_bytes(entry: SchemaEntry, datum: Any) -> bytes:
    buf = io.BytesIO()
    schemaless_writer(buf, entry.wire_schema, datum, strict=True)
    return buf.getvalue()


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.path)
def test_should_write_and_read_every_schema_exactly_as_fastavro(entry: SchemaEntry) -> None:
    @AGREE
    @given(datum_of(entry.wire_schema))
    def agree(datum: Any) -> None:
        expected = fastavro_bytes(entry, datum)
        assert entry.write(datum) == expected
        assert entry.read(expected, 0) == (datum, len(expected))
        padded = b"xyz" + expected
        assert entry.read(padded, 3) == (datum, len(padded))
        assert schemaless_reader(io.BytesIO(expected), entry.wire_schema, None) == datum

    agree()


RECORD = {
    "type": "record",
    "name": "T",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "b", "type": "bytes"},
        {"name": "n", "type": ["null", "long"]},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
    ],
}


@pytest.mark.parametrize(
    ("datum", "error"),
    [
        ({"s": "x", "b": b"", "n": None}, KeyError),  # missing field
        ({"s": "x", "b": b"", "n": None, "e": "A", "extra": 1}, KeyError),
        ({"s": 5, "b": b"", "n": None, "e": "A"}, AttributeError),
        ({"s": "x", "b": 5, "n": None, "e": "A"}, TypeError),  # not five zero bytes
        ({"s": "x", "b": b"", "n": "7", "e": "A"}, TypeError),
        ({"s": "x", "b": b"", "n": 2**63, "e": "A"}, ValueError),
        ({"s": "x", "b": b"", "n": None, "e": "C"}, KeyError),
    ],
)
def test_should_refuse_a_datum_of_the_wrong_shape(datum: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        compile_writer(RECORD)(datum)


@pytest.mark.parametrize(
    "body",
    [
        b"",  # nothing at all
        b"\x03x",  # string length -2
        b"\x0ax",  # string length 5, one byte there
        b"\x00\x00\x04",  # union branch 2 of a two-branch union
        b"\x00\x00\x02" + b"\xff" * 11,  # a varint of more than 10 bytes
        b"\x00\x00\x00\x04",  # enum index 2 of two symbols
        b"\x00\x00\x00\x01",  # enum index -1
    ],
)
def test_should_raise_on_corrupt_input(body: bytes) -> None:
    with pytest.raises((IndexError, EOFError, ValueError)):
        compile_reader(RECORD)(body, 0)


def test_should_report_corrupt_and_truncated_bodies_as_undecodable() -> None:
    entry = default_registry().record("agentflow.internal.StepCommand")
    assert entry is not None
    good = entry.header + b"\x02a"  # command_id "a", then nothing
    with pytest.raises(EventDecodeError) as err:
        decode_record(good)
    assert err.value.reason == "undecodable"


def _decisions() -> list[Decision]:
    """A support ticket from creation through a granted refund to its end, decided."""
    f, registry = EventFactory("wf-avrogen"), example_registry()
    state: WorkflowState | None = None
    out: list[Decision] = []

    def send(event: Envelope) -> Decision:
        nonlocal state
        decisions = process_event(state, event, len(out), registry, 1_000 + len(out))
        out.extend(decisions)
        state = decisions[-1].state or state
        return decisions[-1]

    [classify] = send(f.ticket_created()).commands
    [propose] = send(f.step_completed(classify, {"outcome": "refund"})).commands
    requested = send(f.step_completed(propose, {"amount_minor": 10})).outputs[0]
    assert isinstance(requested, ApprovalRequestedV1)
    [execute] = send(f.approval_granted(requested)).commands
    send(f.step_completed(execute, {"refund_id": "r-1"}))
    return out


def test_should_write_a_model_as_its_dump_is_written() -> None:
    reg = default_registry()
    models: list[tuple[str, msgspec.Struct]] = []
    for d in _decisions():
        models.append((AUDIT_RECORD, d.audit))
        models += [(STEP_COMMAND, c) for c in d.commands]
        models += [(WORKFLOW_NOTICE, o) for o in d.outputs if isinstance(o, WorkflowNotice)]
    kinds = {name for name, _ in models}
    assert kinds == {AUDIT_RECORD, STEP_COMMAND, WORKFLOW_NOTICE}
    for name, model in models:
        entry = reg.record(name)
        assert entry is not None
        assert entry.write_model(model) == entry.write(msgspec.to_builtins(model)), name
    for event in sample_events():
        entry = reg.event(event.event_type, event.schema_version)
        assert entry is not None
        assert entry.write_model(event) == entry.write(event.model_dump()), event.event_type


def test_should_not_write_a_float_for_a_long_even_after_the_same_int() -> None:
    write = compile_writer(
        {"type": "record", "name": "L", "fields": [{"name": "t", "type": "long"}]}
    )
    stamp = 1_795_298_430_355
    assert write({"t": stamp}) == write({"t": stamp})  # the second from the cache
    with pytest.raises(TypeError):
        write({"t": float(stamp)})
