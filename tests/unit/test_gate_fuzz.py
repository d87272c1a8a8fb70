"""Generated bad input through admit(): the gate never raises, and every record ends in exactly
one of validated (one emit to ``events``) or quarantined (one emit to ``quarantine`` with the
original key, value and headers untouched and a reason from GATE_REASONS), or, when it sits on the
wrong partition, re-routed unchanged."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.contract import Context, Emit, Record
from processors.deployment import Deployment
from processors.events import HEADER_CONTENT_TYPE, HEADER_KEY_ID, HEADER_SIGNATURE, decode
from processors.gate import EVENTS_ROLE, GATE_REASONS, INGRESS_ROLE, Accepted, Gate, admit
from processors.partitioning import partition_for
from processors.quarantine import REASON_HEADER, read_quarantine
from processors.roles import QUARANTINE_ROLE
from tests import gatekit as gk
from tests.gatekit import NOW_MS, PARTITIONS, Raw

GATE = gk.make_gate()
DEPLOYMENT = Deployment("t", PARTITIONS, {"ingress": "t.ingress"})
FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies -------------------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from(
    [
        b"application/avro",
        b"application/json",
        b"Application/JSON; charset=utf-8",
        b" application/avro ",
        b"application/avro;",
        b"\x1capplication/avro",
        b"application/json\x1f",
        b"\tapplication/json\n",
        b"application/avro\x00",
        b"application/avr",
        b"text/plain",
        b"",
        b";",
        b"\xff",
        "application/jsön".encode(),
    ]
) | st.binary(max_size=30)
HEADER_NAMES = st.sampled_from(
    [HEADER_CONTENT_TYPE, HEADER_SIGNATURE, HEADER_KEY_ID, "Content-Type", "x-trace", ""]
) | st.text(max_size=30)
HEADER_VALUES = st.none() | st.binary(max_size=80) | CONTENT_TYPES
HEADERS = st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6).map(tuple)
GOOD = st.builds(
    lambda i, wf: gk.good_event(i, NOW_MS, workflow_id=wf),
    st.integers(0, 10_000),
    st.sampled_from(["wf-1", "wf-acme-1001", "wf-ü-ñ", "wf-🙂", "w" * 256]),
)
# Mostly the key's own partition (None); sometimes a given one, often the wrong one.
PARTITION = st.sampled_from([None, None, None, None, None, 0, 1, 2, 3])

WEIRD_TEXT = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=40
) | st.sampled_from(
    [
        "",
        "\n",
        "\x00",
        "\ud800",
        "a\udfffb",
        "\u202e\u200b\ufeff",
        "🙂" * 50,
        "x" * 5_000,
        "€" * 100_000,
        "null",
        "*",
    ]
)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | WEIRD_TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WEIRD_TEXT, inner, max_size=4),
    max_leaves=12,
)
DELETE = object()


@st.composite
def arbitrary_records(draw: st.DrawFn) -> Record:
    """Random keys, values and headers: mostly nothing the gate can read."""
    key = draw(
        st.sampled_from([b"wf-1", b"wf-acme-1001", b"k\n"])
        | st.binary(min_size=1, max_size=300)
        | st.sampled_from([None, b""])
    )
    body = st.binary(max_size=400)
    value = draw(
        st.none()
        | body
        | body.map(lambda b: b"\xc3\x01" + b)
        | st.builds(lambda h, b: h + b, st.sampled_from(_schema_headers()), body)
        | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    )
    return _record(Raw(key, value, draw(HEADERS)), draw(PARTITION))


@st.composite
def mangled_signed_events(draw: st.DrawFn) -> Record:
    """A good, signed event, then its key, content-type and headers mangled at random."""
    ev = draw(GOOD)
    as_json = draw(st.booleans())
    raw = gk.signed(ev, as_json=as_json)
    headers = list(raw.headers)
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "set", "add", "content-type"]))
        if action == "drop" and headers:
            headers.pop(draw(st.integers(0, len(headers) - 1)))
        elif action == "set" and headers:
            i = draw(st.integers(0, len(headers) - 1))
            headers[i] = (headers[i][0], draw(HEADER_VALUES))
        elif action == "add":
            headers.append((draw(HEADER_NAMES), draw(HEADER_VALUES)))
        else:
            headers.insert(0, (HEADER_CONTENT_TYPE, draw(CONTENT_TYPES)))
    key = raw.key
    if draw(st.integers(0, 3)) == 3:  # 0, the simplest, keeps the key
        key = draw(st.binary(max_size=20) | st.none())
    return _record(Raw(key, raw.value, tuple(headers)), draw(PARTITION))


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> Record:
    """A good event with fields mutated (wrong types, deleted, huge, weird unicode, extra),
    encoded as JSON (or Avro when it still fits the schema) and signed by a plausible key."""
    ev = draw(GOOD)
    doc: dict[str, Any] = json.loads(gk.to_json(ev))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["", "actor", "payload"]))
        node = doc if not where else doc.get(where)
        if not isinstance(node, dict):
            node = doc
        name = draw(st.sampled_from([*node.keys(), "extra"]) | WEIRD_TEXT)
        new = draw(st.just(DELETE) | JSON_VALUES)
        if new is DELETE:
            node.pop(name, None)
        else:
            node[name] = new
    value = _encode(doc, prefer_avro=draw(st.booleans()), ascii_only=draw(st.booleans()))
    wf = doc.get("workflow_id")
    key = draw(
        st.sampled_from(
            [
                wf.encode("utf-8", "surrogatepass") if isinstance(wf, str) else b"wf-1",
                ev.key,
            ]
        )
        | st.binary(max_size=10)
    )
    source = doc.get("source")
    key_id = gk.KEY_ID.get(source) if isinstance(source, str) else None
    key_id = draw(st.sampled_from([key_id or "jobs-1", "jobs-1", gk.REVOKED_KEY_ID]))
    headers: tuple[tuple[str, bytes | None], ...] = ()
    if not value.startswith(b"\xc3\x01"):
        headers += ((HEADER_CONTENT_TYPE, b"application/json"),)
    if b"\n" not in key:
        headers += gk.sign_headers(key_id, key, value)
    return _record(Raw(key, value, headers), draw(PARTITION))


def _encode(doc: dict[str, Any], *, prefer_avro: bool, ascii_only: bool) -> bytes:
    event_type, version = doc.get("event_type"), doc.get("schema_version")
    if prefer_avro and isinstance(event_type, str) and isinstance(version, int):
        try:
            return gk.avro_raw(event_type, version, doc)
        except Exception:  # no such schema, or the datum no longer fits it
            pass
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _schema_headers() -> list[bytes]:
    from processors.events import default_registry

    return [e.header for e in default_registry()]


def _record(raw: Raw, partition: int | None) -> Record:
    return raw.record(partition=partition)


ANY_RECORD = arbitrary_records() | mangled_signed_events() | mutated_envelopes()

# -- the property -----------------------------------------------------------------------------


def assert_exactly_one_outcome(
    gate: Gate, record: Record, emits: list[Emit] | tuple[Emit, ...]
) -> str:
    """The one emit for ``record`` is a validated event, a quarantine record or a re-route."""
    assert len(emits) == 1, emits
    (emit,) = emits
    home = partition_for(record.key, PARTITIONS) if record.key else record.partition
    if record.partition != home:
        assert emit == Emit(INGRESS_ROLE, record.key, record.value, record.headers, partition=home)
        return "rerouted"
    if emit.role == EVENTS_ROLE:
        event = decode(emit.value or b"")
        assert emit.key == record.key == event.key
        outcome = gate.check(record, NOW_MS)
        assert isinstance(outcome, Accepted) and outcome.event == event
        if record.value and record.value[:2] == b"\xc3\x01":
            assert emit.value == record.value  # Avro passes through byte for byte
        return "validated"
    assert emit.role == QUARANTINE_ROLE, emit
    body = read_quarantine(emit.value or b"")
    assert body["reason"] in GATE_REASONS, body["reason"]
    assert dict(emit.headers)[REASON_HEADER] == body["reason"].encode()
    assert emit.key == record.key
    assert body["original_key"] == record.key
    assert body["original_value"] == record.value
    assert [(h["key"], h["value"]) for h in body["original_headers"]] == list(record.headers)
    return "quarantined"


def run_admit(record: Record) -> tuple[Emit, ...]:
    ctx = Context(NOW_MS, record.partition, DEPLOYMENT)
    _, result = admit(GATE, record, ctx)
    return result.emits


@FUZZ
@given(arbitrary_records())
def test_random_bytes_and_headers_end_in_exactly_one_outcome(record: Record) -> None:
    assert_exactly_one_outcome(GATE, record, run_admit(record))


@FUZZ
@given(mangled_signed_events())
def test_mangled_headers_and_keys_end_in_exactly_one_outcome(record: Record) -> None:
    assert_exactly_one_outcome(GATE, record, run_admit(record))


@FUZZ
@given(mutated_envelopes())
def test_mutated_envelopes_end_in_exactly_one_outcome(record: Record) -> None:
    assert_exactly_one_outcome(GATE, record, run_admit(record))


@FUZZ
@given(GOOD, st.booleans(), st.sampled_from([None, b"application/avro", b"APPLICATION/AVRO;x=1"]))
def test_good_signed_events_are_always_validated(ev: Any, as_json: bool, ct: bytes | None) -> None:
    raw = gk.signed(ev, as_json=as_json, content_type=b"application/json" if as_json else ct)
    record = raw.record()
    assert assert_exactly_one_outcome(GATE, record, run_admit(record)) == "validated"


@FUZZ
@given(GOOD, st.sampled_from(sorted(gk.BAD_KINDS)))
def test_bad_kinds_are_always_quarantined_for_their_reason(ev: Any, kind: str) -> None:
    raw, reason = gk.bad_record(kind, ev, NOW_MS)
    record = raw.record()
    emits = run_admit(record)
    assert assert_exactly_one_outcome(GATE, record, emits) == "quarantined"
    assert read_quarantine(emits[0].value or b"")["reason"] == reason
