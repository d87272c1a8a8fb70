"""Building signed good and bad ingress records for the gate tests (unit, driver, integration).

The policy is ``config/policy.json`` (what the worker runs by default) with one revoked key id;
the secrets are test secrets with two live key ids for ``helpdesk`` (rotation) and one revoked.
Every bad kind in :data:`BAD_KINDS` builds a record the gate must refuse for exactly that
reason code.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import schemaless_writer

from agentflow.testing import T0, sample_events
from processors.contract import Headers, Record
from processors.events import (
    CONTENT_TYPE_JSON,
    HEADER_CONTENT_TYPE,
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    QUARANTINE_RECORD,
    Actor,
    Envelope,
    KeyRing,
    default_registry,
    encode,
    encode_record,
)
from processors.gate import Gate, GatePolicy, load_policy
from processors.partitioning import partition_for

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4
NOW_MS = T0 + 30 * 86_400_000  # a fixed "now" for pure tests, well after the samples
DAY_MS = 86_400_000

SOURCE_OF_FAMILY = {
    "ticket": "helpdesk",
    "customer": "helpdesk",
    "refund": "helpdesk",
    "approval": "approvals-ui",
    "document": "documents",
    "alert": "monitoring",
    "deployment": "monitoring",
    "job": "jobs",
    "step": "agentflow-steps",
    "timer": "agentflow-steps",
    "reply": "agentflow-steps",  # agent outputs: a step worker may publish them itself
    "postmortem": "agentflow-steps",
    "schedule": "agentflow-schedules",
}
SECRETS: dict[str, dict[str, str]] = {
    "helpdesk": {
        "helpdesk-2025": "test-secret-helpdesk-2025",  # revoked by the policy
        "helpdesk-2026a": "test-secret-helpdesk-2026a",
        "helpdesk-2026b": "test-secret-helpdesk-2026b",  # rotation: both 2026 keys are live
    },
    "monitoring": {"monitoring-1": "test-secret-monitoring-1"},
    "approvals-ui": {"approvals-1": "test-secret-approvals-1"},
    "documents": {"documents-1": "test-secret-documents-1"},
    "jobs": {"jobs-1": "test-secret-jobs-1"},
    "agentflow-steps": {"steps-1": "test-secret-steps-1"},
    "agentflow-schedules": {"schedules-1": "test-secret-schedules-1"},
}
REVOKED_KEY_ID = "helpdesk-2025"
KEY_ID = {
    "helpdesk": "helpdesk-2026a",
    "monitoring": "monitoring-1",
    "approvals-ui": "approvals-1",
    "documents": "documents-1",
    "jobs": "jobs-1",
    "agentflow-steps": "steps-1",
    "agentflow-schedules": "schedules-1",
}
APPROVER = Actor(id="u-olga", kind="user", roles=["support", "approver"])


def policy_data() -> dict[str, Any]:
    """``config/policy.json`` with :data:`REVOKED_KEY_ID` revoked (a fresh copy)."""
    data: dict[str, Any] = json.loads((ROOT / "config" / "policy.json").read_text())
    data["revoked_key_ids"] = [REVOKED_KEY_ID]
    return copy.deepcopy(data)


def make_policy(data: Mapping[str, Any] | None = None) -> GatePolicy:
    return load_policy(policy_data() if data is None else data)


def make_keyring(policy: GatePolicy) -> KeyRing:
    """The test secrets, with the policy's revoked key ids revoked (as the worker builds it)."""
    return KeyRing.from_mapping(SECRETS, revoked=policy.revoked_key_ids)


def make_gate(policy: GatePolicy | None = None) -> Gate:
    policy = policy or make_policy()
    return Gate(policy, make_keyring(policy))


def write_config(directory: Path) -> dict[str, str]:
    """Write the policy and secrets files; the worker's env variables that point at them."""
    directory.mkdir(parents=True, exist_ok=True)
    policy_file = directory / "policy.json"
    keys_file = directory / "signing-keys.json"
    policy_file.write_text(json.dumps(policy_data()))
    keys_file.write_text(json.dumps(SECRETS))
    return {
        "AGENTFLOW_POLICY_FILE": str(policy_file),
        "AGENTFLOW_SIGNING_KEYS_FILE": str(keys_file),
    }


# -- events ---------------------------------------------------------------------------------


def source_for(event_type: str) -> str:
    return SOURCE_OF_FAMILY[event_type.split(".", 1)[0]]


def _templates() -> dict[tuple[str, int], Envelope]:
    return {e.schema_key(): e for e in sample_events()}


TEMPLATES = _templates()
GOOD_TYPES: tuple[tuple[str, int], ...] = tuple(k for k in TEMPLATES if k[0] != "timer.fired")


def event(
    event_type: str = "ticket.created",
    version: int | None = None,
    *,
    now_ms: int = NOW_MS,
    **update: Any,
) -> Envelope:
    """A valid event of ``event_type`` the test policy accepts (unless ``update`` says else)."""
    if version is None:
        version = max(v for t, v in TEMPLATES if t == event_type)
    base = TEMPLATES[(event_type, version)]
    fields: dict[str, Any] = {
        "source": source_for(event_type),
        "occurred_at": now_ms - 1_000,
        "tenant": "acme",
    }
    if event_type in ("approval.granted", "approval.denied"):
        fields["actor"] = APPROVER
    fields.update(update)
    # Validate again, so a bad update fails here rather than in the gate.
    return type(base).model_validate({**base.model_dump(), **fields})


def good_event(
    i: int, now_ms: int, workflow_id: str | None = None, tenant: str | None = None
) -> Envelope:
    """The ``i``-th of a stream of valid events: every accepted type in turn, unique ids."""
    event_type, version = GOOD_TYPES[i % len(GOOD_TYPES)]
    return event(
        event_type,
        version,
        now_ms=now_ms,
        event_id=f"good-{i:06d}",
        workflow_id=workflow_id or f"wf-{i % 97:03d}",
        tenant=tenant or ("acme", "globex")[i % 2],
    )


def to_json(ev: Envelope) -> bytes:
    """The natural JSON of ``ev`` (timestamps as epoch millis), as a webhook would send it."""
    return ev.model_dump_json().encode()


def avro_raw(event_type: str, version: int, datum: Mapping[str, Any]) -> bytes:
    """Single-object encode ``datum`` with the writer schema of (type, version), unchecked."""
    entry = default_registry().event(event_type, version)
    assert entry is not None
    buf = io.BytesIO()
    buf.write(entry.header)
    schemaless_writer(buf, entry.wire_schema, dict(datum))
    return buf.getvalue()


# -- records --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """An ingress record as a producer sends it."""

    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    def record(
        self,
        *,
        partition: int | None = None,
        offset: int = 0,
        role: str = "ingress",
        partitions: int = PARTITIONS,
    ) -> Record:
        """As consumed, by default on the key's murmur2 partition."""
        if partition is None:
            partition = partition_for(self.key, partitions) if self.key else 0
        return Record(role, partition, offset, self.key, self.value, self.headers)


def sign_headers(key_id: str, key: bytes | None, value: bytes | None) -> Headers:
    for keys in SECRETS.values():
        if key_id in keys:
            ring = KeyRing.from_mapping({"any": {key_id: keys[key_id]}})
            return ring.headers(key_id, key, value)
    raise KeyError(key_id)


def signed(
    ev: Envelope,
    *,
    as_json: bool = False,
    key_id: str | None = None,
    key: bytes | None = None,
    value: bytes | None = None,
    sign_key: bytes | None = None,
    content_type: bytes | None = None,
    extra_headers: Headers = (),
) -> Raw:
    """``ev`` encoded (Avro, or JSON with its content-type) and signed by its source's key.

    ``key``/``value`` replace the record's key or value *before* signing; ``sign_key`` signs
    another key than the record carries.
    """
    if value is None:
        value = to_json(ev) if as_json else encode(ev)
    if key is None:
        key = ev.key
    if content_type is None and as_json:
        content_type = CONTENT_TYPE_JSON.encode()
    headers: Headers = ((HEADER_CONTENT_TYPE, content_type),) if content_type is not None else ()
    headers += sign_headers(
        key_id or KEY_ID[ev.source], key if sign_key is None else sign_key, value
    )
    return Raw(key, value, headers + tuple(extra_headers))


def flip(data: bytes, index: int) -> bytes:
    """``data`` with one bit of byte ``index`` flipped."""
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


def without(headers: Headers, name: str) -> Headers:
    return tuple((k, v) for k, v in headers if k != name)


def replaced(headers: Headers, name: str, value: bytes) -> Headers:
    return tuple((k, value if k == name else v) for k, v in headers)


# -- bad records, one builder per reason ----------------------------------------------------

Builder = Callable[[Envelope, int], Raw]


def _signature_invalid(ev: Envelope, now_ms: int) -> Raw:
    # One bit of the event_id's last byte: still a valid event, just not the signed one.
    good = signed(ev)
    assert good.value is not None
    at = good.value.index(ev.event_id.encode()) + len(ev.event_id) - 1
    return Raw(good.key, flip(good.value, at), good.headers)


def _signature_invalid_key(ev: Envelope, now_ms: int) -> Raw:
    # Signed over a key one byte off; the record's key still equals workflow_id.
    return signed(ev, sign_key=flip(ev.key, len(ev.key) - 1))


def _too_large(ev: Envelope, now_ms: int) -> Raw:
    return signed(ev, extra_headers=(("x-padding", b"p" * 9_000),))


def _missing_key(ev: Envelope, now_ms: int) -> Raw:
    good = signed(ev)
    return Raw(None, good.value, good.headers)


def _undecodable(ev: Envelope, now_ms: int) -> Raw:
    return signed(ev, value=b"\xc3\x01" + encode(ev)[2:-3])


def _unsupported_content_type(ev: Envelope, now_ms: int) -> Raw:
    return signed(ev, content_type=b"application/xml")


def _unknown_schema(ev: Envelope, now_ms: int) -> Raw:
    value = encode(ev)
    return signed(ev, value=value[:2] + b"\x00" * 8 + value[10:])


def _unknown_event_type(ev: Envelope, now_ms: int) -> Raw:
    data = json.loads(to_json(ev))
    data["event_type"] = "ticket.exploded"
    return signed(ev, as_json=True, value=json.dumps(data).encode())


def _unknown_schema_version(ev: Envelope, now_ms: int) -> Raw:
    data = json.loads(to_json(ev))
    data["schema_version"] = 99
    return signed(ev, as_json=True, value=json.dumps(data).encode())


def _missing_field(ev: Envelope, now_ms: int) -> Raw:
    data = json.loads(to_json(ev))
    del data["event_id"]
    return signed(ev, as_json=True, value=json.dumps(data).encode())


def _schema_invalid(ev: Envelope, now_ms: int) -> Raw:
    data = json.loads(to_json(ev))
    data["occurred_at"] = "yesterday"
    return signed(ev, as_json=True, value=json.dumps(data).encode())


def _key_mismatch(ev: Envelope, now_ms: int) -> Raw:
    other = ev.key[:-1] + (b"x" if ev.key[-1:] != b"x" else b"y")  # same length
    return signed(ev, key=other)


def _reserved_event_type(ev: Envelope, now_ms: int) -> Raw:
    timer = event("timer.fired", now_ms=now_ms, event_id=ev.event_id, workflow_id=ev.workflow_id)
    return signed(timer)


def _unknown_source(ev: Envelope, now_ms: int) -> Raw:
    return signed(ev.model_copy(update={"source": "rogue-crm"}), key_id=KEY_ID[ev.source])


def _signature_missing(ev: Envelope, now_ms: int) -> Raw:
    good = signed(ev)
    return Raw(good.key, good.value, without(good.headers, HEADER_SIGNATURE))


def _key_id_missing(ev: Envelope, now_ms: int) -> Raw:
    good = signed(ev)
    return Raw(good.key, good.value, without(good.headers, HEADER_KEY_ID))


def _unknown_key_id(ev: Envelope, now_ms: int) -> Raw:
    good = signed(ev)
    return Raw(good.key, good.value, replaced(good.headers, HEADER_KEY_ID, b"nobody-1"))


def _key_not_for_source(ev: Envelope, now_ms: int) -> Raw:
    other = "jobs" if ev.source != "jobs" else "monitoring"
    return signed(ev, key_id=KEY_ID[other])


def _key_revoked(ev: Envelope, now_ms: int) -> Raw:
    hd = ev if ev.source == "helpdesk" else _as(ev, "ticket.created")
    return signed(hd, key_id=REVOKED_KEY_ID)


def _tenant_not_allowed(ev: Envelope, now_ms: int) -> Raw:
    hd = ev if ev.source == "helpdesk" else _as(ev, "ticket.created")
    return signed(hd.model_copy(update={"tenant": "initech"}))


def _event_type_not_allowed(ev: Envelope, now_ms: int) -> Raw:
    alert = _as(ev, "alert.fired")
    return signed(alert.model_copy(update={"source": "helpdesk"}))


def _actor_not_permitted(ev: Envelope, now_ms: int) -> Raw:
    granted = _as(ev, "approval.granted")
    other = "globex" if ev.tenant == "acme" else "acme"  # an approver, but for another tenant
    actor = Actor(id="u-mallory", kind="user", roles=["support", f"{other}:approver"])
    return signed(granted.model_copy(update={"actor": actor}))


def _stale_event(ev: Envelope, now_ms: int) -> Raw:
    alert = _as(ev, "alert.fired")
    return signed(alert.model_copy(update={"occurred_at": now_ms - 2 * DAY_MS}))


def _future_event(ev: Envelope, now_ms: int) -> Raw:
    return signed(ev.model_copy(update={"occurred_at": now_ms + 3_600_000}))


def _as(ev: Envelope, event_type: str) -> Envelope:
    """An event of ``event_type`` with ``ev``'s identity (id, workflow, tenant, time)."""
    return event(
        event_type,
        event_id=ev.event_id,
        workflow_id=ev.workflow_id,
        tenant=ev.tenant,
        occurred_at=ev.occurred_at,
    )


BAD_KINDS: dict[str, tuple[str, Builder]] = {
    "too_large": ("too_large", _too_large),
    "missing_key": ("missing_key", _missing_key),
    "undecodable": ("undecodable", _undecodable),
    "unsupported_content_type": ("unsupported_content_type", _unsupported_content_type),
    "unknown_schema": ("unknown_schema", _unknown_schema),
    "unknown_event_type": ("unknown_event_type", _unknown_event_type),
    "unknown_schema_version": ("unknown_schema_version", _unknown_schema_version),
    "missing_field": ("missing_field", _missing_field),
    "schema_invalid": ("schema_invalid", _schema_invalid),
    "key_mismatch": ("key_mismatch", _key_mismatch),
    "reserved_event_type": ("reserved_event_type", _reserved_event_type),
    "unknown_source": ("unknown_source", _unknown_source),
    "signature_missing": ("signature_missing", _signature_missing),
    "key_id_missing": ("key_id_missing", _key_id_missing),
    "unknown_key_id": ("unknown_key_id", _unknown_key_id),
    "key_not_for_source": ("key_not_for_source", _key_not_for_source),
    "key_revoked": ("key_revoked", _key_revoked),
    "signature_invalid": ("signature_invalid", _signature_invalid),
    "signature_invalid_key": ("signature_invalid", _signature_invalid_key),
    "tenant_not_allowed": ("tenant_not_allowed", _tenant_not_allowed),
    "event_type_not_allowed": ("event_type_not_allowed", _event_type_not_allowed),
    "actor_not_permitted": ("actor_not_permitted", _actor_not_permitted),
    "stale_event": ("stale_event", _stale_event),
    "future_event": ("future_event", _future_event),
}
"""Bad kind → (the reason the gate must give, a builder from a good event and "now")."""


def bad_record(kind: str, ev: Envelope, now_ms: int) -> tuple[Raw, str]:
    reason, build = BAD_KINDS[kind]
    return build(ev, now_ms), reason


def quarantine_record_value() -> bytes:
    """A valid single-object encoded record that is not an event (a quarantine record)."""
    return encode_record(
        QUARANTINE_RECORD,
        {
            "original_key": None,
            "original_value": None,
            "original_headers": [],
            "original_topic": "x",
            "original_partition": 0,
            "original_offset": 0,
            "reason": "r",
            "detail": "d",
            "quarantined_by": "g",
            "quarantined_at": 0,
            "event_id": None,
            "tenant": None,
        },
    )
