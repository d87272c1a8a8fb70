"""The hand-written pydantic models (and the engine's msgspec Structs) agree with the .avsc
files, field by field.

Names and order, types (Avro int/long → bounded int, timestamp-millis marker, enums → Literal,
unions with null → Optional, arrays, maps, nested records), optionality and defaults.
"""

from __future__ import annotations

import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
import pytest
from annotated_types import Ge, Le
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from avro_schemas import SCHEMA_DIR
from processors.engine.state import as_plain
from processors.events import EVENT_MODELS, Envelope, default_registry
from processors.events.common import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, AvroLogicalType
from processors.events.registry import SchemaEntry

REG = default_registry()
EVENT_ENTRIES = [e for e in REG if e.is_event]
EXPECTED_TYPES = {
    "ticket.created": (1, 2),
    "ticket.updated": (1,),
    "customer.replied": (1,),
    "ticket.closed": (1,),
    "refund.proposed": (1,),
    "approval.requested": (1,),
    "approval.granted": (1, 2),
    "approval.denied": (1, 2),
    "document.uploaded": (1,),
    "alert.fired": (1,),
    "alert.resolved": (1,),
    "deployment.completed": (1,),
    "job.completed": (1,),
    "step.completed": (1, 2),
    "reply.drafted": (1,),
    "refund.recommended": (1,),
    "postmortem.drafted": (1,),
    "step.failed": (1, 2),
    "timer.fired": (1,),
    "schedule.fired": (1,),
    "schedule.control": (1,),
}
ENVELOPE = [
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "source",
    "tenant",
    "actor",
    "workflow_id",
    "causation_id",
    "payload",
]
PRIMITIVES = {"string": str, "boolean": bool, "double": float, "float": float, "bytes": bytes}
BOUNDS = {"int": (INT32_MIN, INT32_MAX), "long": (INT64_MIN, INT64_MAX)}


def _split(ann: Any) -> tuple[Any, list[Any]]:
    """(base type, flattened metadata) of a possibly Annotated type."""
    metas: list[Any] = []
    while get_origin(ann) is Annotated:
        ann, *more = get_args(ann)
        metas.extend(more)
    flat: list[Any] = []
    for m in metas:
        if isinstance(m, msgspec.Meta):  # a Struct's bounds, as pydantic's Ge/Le
            flat += [Ge(m.ge)] if m.ge is not None else []
            flat += [Le(m.le)] if m.le is not None else []
        else:
            flat.extend(m.metadata if isinstance(m, FieldInfo) else [m])
    return ann, flat


def _field_type(info: FieldInfo) -> Any:
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def check_type(schema: Any, ann: Any, entry: SchemaEntry, path: str) -> None:
    base, metas = _split(ann)
    if isinstance(schema, str) and schema in entry.names:
        schema = entry.names[schema]
    if isinstance(schema, list):
        assert schema[0] == "null" and len(schema) == 2, f"{path}: only [null, X] unions"
        assert get_origin(base) in (Union, types.UnionType), f"{path}: expected Optional"
        args = get_args(base)
        assert len(args) == 2 and type(None) in args, path
        check_type(schema[1], next(a for a in args if a is not type(None)), entry, path)
        return
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = None if isinstance(schema, str) else schema.get("logicalType")
    markers = [m.name for m in metas if isinstance(m, AvroLogicalType)]
    assert markers == ([logical] if logical else []), f"{path}: logical type {logical}"
    if kind in BOUNDS:
        assert base is int, f"{path}: {kind} must be int"
        low = [m.ge for m in metas if isinstance(m, Ge)]
        high = [m.le for m in metas if isinstance(m, Le)]
        assert (low, high) == ([BOUNDS[kind][0]], [BOUNDS[kind][1]]), f"{path}: {kind} bounds"
    elif kind == "string" and get_origin(base) is Literal:
        # Narrower than the schema (a closed set of strings): every value the model takes fits.
        assert all(isinstance(a, str) for a in get_args(base)), f"{path}: Literal of strings"
    elif kind in PRIMITIVES:
        assert base is PRIMITIVES[kind], f"{path}: {kind} must be {PRIMITIVES[kind]}"
    elif kind == "enum":
        assert get_origin(base) is Literal, f"{path}: enum must be a Literal"
        assert get_args(base) == tuple(schema["symbols"]), f"{path}: enum symbols"
    elif kind == "array":
        # A frozen record may hold an array as a homogeneous tuple.
        if get_origin(base) is tuple:
            item, ellipsis = get_args(base)
            assert ellipsis is Ellipsis, f"{path}: array must be tuple[X, ...]"
        else:
            assert get_origin(base) is list, f"{path}: array must be list"
            item = get_args(base)[0]
        check_type(schema["items"], item, entry, f"{path}[]")
    elif kind == "map":
        assert get_origin(base) is dict and get_args(base)[0] is str, f"{path}: map"
        check_type(schema["values"], get_args(base)[1], entry, f"{path}{{}}")
    elif kind == "record":
        if isinstance(base, type) and issubclass(base, msgspec.Struct):
            check_struct(schema, base, entry, path)
            return
        assert isinstance(base, type) and issubclass(base, BaseModel), f"{path}: record"
        check_record(schema, base, entry, path)
    else:  # pragma: no cover
        pytest.fail(f"{path}: unhandled Avro type {kind}")


def check_record(schema: Any, model: type[BaseModel], entry: SchemaEntry, path: str) -> None:
    fields = model.model_fields
    assert list(fields) == [f["name"] for f in schema["fields"]], f"{path}: field names/order"
    for f in schema["fields"]:
        sub = f"{path}.{f['name']}"
        info = fields[f["name"]]
        literal = f["name"] in ("event_type", "schema_version")
        if literal and model is not Envelope and issubclass(model, Envelope):
            want = entry.event_type if f["name"] == "event_type" else entry.version
            expected: Any = Literal[want]
            assert info.annotation == expected, f"{sub}: must be Literal[{want!r}]"
            assert info.default == want, f"{sub}: default"
            continue
        check_type(f["type"], _field_type(info), entry, sub)
        if "default" in f:
            assert not info.is_required(), f"{sub}: Avro default but required in the model"
            default = info.get_default(call_default_factory=True)
            default = list(default) if isinstance(default, tuple) else default
            default = default.model_dump() if isinstance(default, BaseModel) else default
            assert default == f["default"], f"{sub}: default"
        else:
            assert info.is_required(), f"{sub}: no Avro default but optional in the model"


def check_struct(schema: Any, struct: type[msgspec.Struct], entry: SchemaEntry, path: str) -> None:
    """:func:`check_record` for a msgspec Struct (the engine's table values)."""
    fields = {f.name: f for f in msgspec.structs.fields(struct)}
    assert list(fields) == [f["name"] for f in schema["fields"]], f"{path}: field names/order"
    for f in schema["fields"]:
        sub = f"{path}.{f['name']}"
        info = fields[f["name"]]
        check_type(f["type"], info.type, entry, sub)
        if "default" in f:
            assert not info.required, f"{sub}: Avro default but required in the Struct"
            factory = info.default_factory
            default = factory() if factory is not msgspec.NODEFAULT else info.default
            default = list(default) if isinstance(default, tuple) else default
            default = as_plain(default) if isinstance(default, msgspec.Struct) else default
            assert default == f["default"], f"{sub}: default"
        else:
            assert info.required, f"{sub}: no Avro default but optional in the Struct"


def test_every_event_type_and_version_is_present() -> None:
    assert REG.event_types() == dict(sorted(EXPECTED_TYPES.items()))


def test_models_and_schemas_are_the_same_set() -> None:
    assert set(EVENT_MODELS) == {(e.event_type, e.version) for e in EVENT_ENTRIES}


@pytest.mark.parametrize("entry", EVENT_ENTRIES, ids=lambda e: e.path)
def test_model_agrees_with_schema(entry: SchemaEntry) -> None:
    assert entry.event_type is not None
    model = EVENT_MODELS[(entry.event_type, entry.version)]
    check_record(entry.schema, model, entry, "")


def test_agreement_check_catches_drift() -> None:
    """The checker is not vacuous: a v2 schema against the v1 model fails."""
    v2 = REG.event("ticket.created", 2)
    assert v2 is not None
    with pytest.raises(AssertionError):
        check_record(v2.schema, EVENT_MODELS[("ticket.created", 1)], v2, "")


@pytest.mark.parametrize("entry", EVENT_ENTRIES, ids=lambda e: e.path)
def test_envelope_fields_are_identical_in_every_event_schema(entry: SchemaEntry) -> None:
    raw = json.loads((SCHEMA_DIR / entry.path).read_text())
    assert [f["name"] for f in raw["fields"]] == ENVELOPE
    reference = json.loads((SCHEMA_DIR / "events/ticket.created.v1.avsc").read_text())
    assert raw["fields"][:-1] == reference["fields"][:-1]
    assert raw["namespace"] == "agentflow.events"


def test_versions_of_one_event_type_share_the_record_name() -> None:
    v1, v2 = REG.event("ticket.created", 1), REG.event("ticket.created", 2)
    assert v1 is not None and v2 is not None
    assert v1.name == v2.name == "agentflow.events.TicketCreated"
    assert v1.fingerprint != v2.fingerprint


def test_shared_types_are_referenced_not_copied() -> None:
    for path in (SCHEMA_DIR / "events").glob("*.avsc"):
        text = path.read_text()
        assert '"name": "Actor"' not in text and '"agentflow.Actor"' in text, path.name


def test_quarantine_record_fields() -> None:
    entry = REG.record("agentflow.internal.QuarantineRecord")
    assert entry is not None and not entry.is_event
    assert [f["name"] for f in entry.schema["fields"]] == [
        "original_key",
        "original_value",
        "original_headers",
        "original_topic",
        "original_partition",
        "original_offset",
        "reason",
        "detail",
        "quarantined_by",
        "quarantined_at",
        "event_id",
        "tenant",
    ]


def test_registry_lookups() -> None:
    v2 = REG.latest("ticket.created")
    assert v2 is not None and v2.version == 2
    assert REG.by_fingerprint(v2.fingerprint) is v2
    assert REG.event("ticket.created", 3) is None
    assert REG.latest("nope") is None
    assert REG.by_fingerprint(b"\x00" * 8) is None
    assert REG.record("agentflow.internal.Nope") is None
    assert len(REG) == len(EVENT_ENTRIES) + len(list((SCHEMA_DIR / "internal").glob("*.avsc")))
