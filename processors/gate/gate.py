"""The validation gate: decides whether an ingress record may touch a workflow.

Checks run in a fixed order and the first failure names the reason. Every reason is a stable
code (see :data:`REASONS`) that scripts match on. The gate never raises on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from processors import reasons
from processors.contract import Record
from processors.events import (
    CONTENT_TYPE_AVRO,
    CONTENT_TYPE_JSON,
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    Envelope,
    EventDecodeError,
    EventError,
    KeyRing,
    content_type_header,
    decode_value,
    encode,
    media_type,
)
from processors.gate.policy import GatePolicy

GATE_VERSION = "gate/1"

# Event types only the engine itself makes; nobody may send them through the gate.
RESERVED_EVENT_TYPES = frozenset({"timer.fired"})
#: Policy verdicts a gate keeps, by (source, tenant, type, actor kind, roles).
VERDICT_CACHE_ENTRIES = 4096
_UNKNOWN: Final = "?"  # not a reason code: a verdict not yet cached

GATE_REASONS: tuple[str, ...] = reasons.given_by("gate")
"""The reason codes the gate gives (defined, with the others, in :mod:`processors.reasons`)."""


def _utf8_safe(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode (lone surrogates) backslash-escaped."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True, slots=True)
class Accepted:
    event: Envelope
    value: bytes  # Avro single-object encoding, as the workflow-events topic carries it


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str
    event_id: str | None = None
    tenant: str | None = None


class Gate:
    """Checks records against the policy, the signing keys and the schemas."""

    def __init__(self, policy: GatePolicy, keyring: KeyRing) -> None:
        self.policy = policy
        self.keyring = keyring
        self.version = f"{GATE_VERSION}+policy/{policy.version}"
        self._verdicts: dict[tuple[str, str, str, str, tuple[str, ...]], str | None] = {}

    def check(self, record: Record, now_ms: int) -> Accepted | Rejected:
        """Accept the record's event or say why not. Never raises on bad input."""
        try:
            outcome = self._check(record, now_ms)
        except EventError as exc:  # encoding a decoded JSON event can still refuse it
            outcome = Rejected(exc.reason, exc.detail)
        if isinstance(outcome, Rejected):
            # Details quote the input; JSON may carry lone surrogates ("\ud800"), which the
            # quarantine record (Avro strings are UTF-8) could not encode.
            return Rejected(
                outcome.reason,
                _utf8_safe(outcome.detail),
                outcome.event_id and _utf8_safe(outcome.event_id),
                outcome.tenant and _utf8_safe(outcome.tenant),
            )
        return outcome

    def _check(self, record: Record, now_ms: int) -> Accepted | Rejected:
        too_big = self._size_problem(record)
        if too_big:
            return Rejected(reasons.TOO_LARGE, too_big)
        if not record.key:
            return Rejected(reasons.MISSING_KEY, "the record has no key")
        content_type = content_type_header(record.headers)
        try:
            event = decode_value(record.value or b"", content_type)
        except EventDecodeError as exc:
            return Rejected(exc.reason, exc.detail + _json_hint(exc.reason, record))
        ids = {"event_id": event.event_id, "tenant": event.tenant}
        if record.key != event.key:
            return Rejected(
                reasons.KEY_MISMATCH,
                f"key {record.key[:80]!r} but workflow_id {event.workflow_id[:80]!r}",
                **ids,
            )
        if event.event_type in RESERVED_EVENT_TYPES:
            return Rejected(
                reasons.RESERVED_EVENT_TYPE, f"{event.event_type} is made by the engine", **ids
            )
        if event.source not in self.policy.sources:
            return Rejected(
                reasons.UNKNOWN_SOURCE, f"source {event.source[:80]!r} is not in the policy", **ids
            )
        bad_signature = self.keyring.verify(
            event.source,
            record.header(HEADER_KEY_ID),
            record.key,
            record.value,
            record.header(HEADER_SIGNATURE),
        )
        if bad_signature is None and self._revoked(record.header(HEADER_KEY_ID)):
            bad_signature = reasons.KEY_REVOKED  # the policy revokes it even if the ring does not
        if bad_signature is not None:
            return Rejected(bad_signature, reasons.REASONS[bad_signature].description, **ids)
        return self._policy_checks(event, record, now_ms) or Accepted(
            event, self._avro_value(event, record, content_type)
        )

    def _verdict(self, event: Envelope) -> str | None:
        """The reason code of the first of the source, type and actor checks ``event`` fails,
        or None. The policy never changes under a gate and events repeat these five values,
        so verdicts are cached (5 µs a check, 0.4 µs a hit), up to a bound."""
        actor = event.actor
        key = (event.source, event.tenant, event.event_type, actor.kind, tuple(actor.roles))
        verdict = self._verdicts.get(key, _UNKNOWN)
        if verdict is not _UNKNOWN:
            return verdict
        policy = self.policy
        if not policy.source_allows_tenant(event.source, event.tenant):
            verdict = reasons.TENANT_NOT_ALLOWED
        elif not policy.source_allows_type(event.source, event.event_type):
            verdict = reasons.EVENT_TYPE_NOT_ALLOWED
        elif not policy.actor_permitted(event.event_type, event.tenant, actor.kind, actor.roles):
            verdict = reasons.ACTOR_NOT_PERMITTED
        else:
            verdict = None
        if len(self._verdicts) >= VERDICT_CACHE_ENTRIES:
            self._verdicts.clear()  # a flood of distinct actors: start over, stay bounded
        self._verdicts[key] = verdict
        return verdict

    def _policy_checks(self, event: Envelope, record: Record, now_ms: int) -> Rejected | None:
        ids = {"event_id": event.event_id, "tenant": event.tenant}
        verdict = self._verdict(event)
        if verdict == reasons.TENANT_NOT_ALLOWED:
            return Rejected(
                reasons.TENANT_NOT_ALLOWED,
                f"source {event.source!r} may not speak for tenant {event.tenant!r}",
                **ids,
            )
        if verdict == reasons.EVENT_TYPE_NOT_ALLOWED:
            return Rejected(
                reasons.EVENT_TYPE_NOT_ALLOWED,
                f"source {event.source!r} may not send {event.event_type}",
                **ids,
            )
        actor = event.actor
        if verdict == reasons.ACTOR_NOT_PERMITTED:
            return Rejected(
                reasons.ACTOR_NOT_PERMITTED,
                f"{actor.kind} {actor.id!r} may not emit {event.event_type} "
                f"for tenant {event.tenant!r}",
                **ids,
            )
        age = now_ms - event.occurred_at
        max_age = self.policy.freshness.max_age_for(event.event_type)
        if age > max_age:
            return Rejected(
                reasons.STALE_EVENT, f"{age} ms old; {event.event_type} allows {max_age} ms", **ids
            )
        skew = self.policy.freshness.max_future_skew_ms
        if -age > skew:
            return Rejected(
                reasons.FUTURE_EVENT, f"{-age} ms in the future; skew allows {skew} ms", **ids
            )
        return None

    def _revoked(self, key_id: bytes | None) -> bool:
        revoked = self.policy.revoked_key_ids
        return bool(revoked) and key_id is not None and key_id.decode("utf-8", "replace") in revoked

    def _size_problem(self, record: Record) -> str | None:
        sizes = self.policy.sizes
        if record.key is not None and len(record.key) > sizes.max_key_bytes:
            return f"key is {len(record.key)} bytes; the limit is {sizes.max_key_bytes}"
        if record.value is not None and len(record.value) > sizes.max_value_bytes:
            return f"value is {len(record.value)} bytes; the limit is {sizes.max_value_bytes}"
        if len(record.headers) > sizes.max_headers:
            return f"{len(record.headers)} headers; the limit is {sizes.max_headers}"
        # Header names are str here but UTF-8 on the wire: count their bytes, not characters.
        header_bytes = sum(
            len(k.encode("utf-8", "surrogatepass")) + len(v or b"") for k, v in record.headers
        )
        if header_bytes > sizes.max_header_bytes:
            return f"headers are {header_bytes} bytes; the limit is {sizes.max_header_bytes}"
        return None

    @staticmethod
    def _avro_value(event: Envelope, record: Record, content_type: bytes | None) -> bytes:
        # Read the header exactly as decode_value did, so every record it decoded as Avro
        # passes through byte for byte (decode_value already refused a non-ASCII value).
        is_avro = media_type(content_type) == CONTENT_TYPE_AVRO
        return record.value if is_avro and record.value is not None else encode(event)


def _json_hint(reason: str, record: Record) -> str:
    """For JSON read as Avro (no content-type header, or one under a name we do not read):
    which headers were there and what was expected."""
    value = (record.value or b"").lstrip()
    if reason != reasons.UNDECODABLE or not value.startswith(b"{"):
        return ""
    if content_type_header(record.headers) is not None:
        return ""  # a content-type was read; its own message says what was wrong
    names = sorted({name for name, _ in record.headers})
    seen = f"headers: {', '.join(repr(n) for n in names)}" if names else "no headers"
    return (
        f"; the value looks like JSON but no content-type header was read ({seen}): send "
        f"'content-type: {CONTENT_TYPE_JSON}' (or Content-Type, contentType)"
    )
