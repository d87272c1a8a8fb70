r"""HMAC-SHA256 signatures over a Kafka record's exact key and value bytes.

The rule, byte for byte::

    message   = key_bytes || 0x0A || value_bytes
    signature = lowercase_hex(HMAC-SHA256(secret, message))

* ``key_bytes`` and ``value_bytes`` are the record's key and value exactly as produced (for
  events: the UTF-8 ``workflow_id`` and the encoded value, Avro or JSON). A null key or value is
  signed as the empty byte string.
* The key must not contain a newline (0x0A), so the message splits unambiguously at the first
  newline; :func:`sign` refuses such keys and :func:`verify` rejects them.
* Headers: ``af-signature`` is the 64-character lowercase hex digest (ASCII) and ``af-key-id``
  the id of the secret (UTF-8). A source may have several key ids at once (rotation).

Reproduce in a shell (``SECRET`` used as raw bytes; ``-macopt hexkey:...`` for binary secrets)::

    { printf '%s\n' "$KEY"; cat value.bin; } | openssl dgst -sha256 -hmac "$SECRET"
    { printf '%s\n' "$KEY"; cat value.bin; } | \
        openssl dgst -sha256 -mac HMAC -macopt hexkey:"$SECRET_HEX"

Secrets never appear in ``repr``/``str``: they are held as :class:`pydantic.SecretBytes`. This
module reads no environment or files; the host builds the :class:`KeyRing` from plain data.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import SecretBytes

from processors import reasons
from processors.events.headers import HEADER_KEY_ID, HEADER_SIGNATURE


def _message(key: bytes | None, value: bytes | None) -> bytes:
    k = key or b""
    if b"\n" in k:
        raise ValueError("a signed key must not contain a newline")
    return k + b"\n" + (value or b"")


def sign(secret: bytes, key: bytes | None, value: bytes | None) -> str:
    """The lowercase hex HMAC-SHA256 of ``key || b"\\n" || value`` under ``secret``."""
    return hmac.new(secret, _message(key, value), hashlib.sha256).hexdigest()


def verify(
    secret: bytes, key: bytes | None, value: bytes | None, signature_hex: str | bytes
) -> bool:
    """True iff ``signature_hex`` is the signature of (key, value); compares in constant time."""
    if isinstance(signature_hex, bytes):
        try:
            signature_hex = signature_hex.decode("ascii")
        except UnicodeDecodeError:
            return False
    if not signature_hex.isascii():
        return False
    try:
        expected = sign(secret, key, value)
    except ValueError:
        return False
    return hmac.compare_digest(expected, signature_hex.lower())


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One signing secret: its id, the source it belongs to, and whether it is revoked."""

    key_id: str
    source: str
    secret: SecretBytes
    revoked: bool = False

    def __repr__(self) -> str:
        state = ", revoked" if self.revoked else ""
        return f"SigningKey({self.key_id!r}, source={self.source!r}{state}, secret=**********)"


def _text(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "\ufffd"
    return value


class KeyRing:
    """The signing keys of every source. Key ids are unique across sources."""

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        self._keys: dict[str, SigningKey] = {}
        for k in keys:
            if k.key_id in self._keys:
                raise ValueError(f"duplicate key id {k.key_id!r}")
            if not k.secret.get_secret_value():
                raise ValueError(f"key {k.key_id!r} has an empty secret")
            self._keys[k.key_id] = k

    @classmethod
    def from_mapping(
        cls, sources: Mapping[str, Mapping[str, str | bytes]], revoked: Iterable[str] = ()
    ) -> KeyRing:
        """Build from ``{source: {key_id: secret}}``; ``str`` secrets are UTF-8 encoded."""
        gone = set(revoked)
        return cls(
            SigningKey(
                key_id=key_id,
                source=source,
                secret=SecretBytes(s.encode("utf-8") if isinstance(s, str) else bytes(s)),
                revoked=key_id in gone,
            )
            for source, keys in sources.items()
            for key_id, s in keys.items()
        )

    def source_of(self, key_id: str) -> str | None:
        """The source ``key_id`` belongs to, or None if unknown."""
        k = self._keys.get(key_id)
        return k.source if k else None

    def key_ids(self, source: str, *, include_revoked: bool = False) -> tuple[str, ...]:
        """The key ids of ``source``, sorted."""
        return tuple(
            sorted(
                k.key_id
                for k in self._keys.values()
                if k.source == source and (include_revoked or not k.revoked)
            )
        )

    def sign(self, key_id: str, key: bytes | None, value: bytes | None) -> str:
        """Sign with ``key_id``. Raises KeyError if unknown, ValueError if revoked."""
        k = self._keys[key_id]
        if k.revoked:
            raise ValueError(f"key {key_id!r} is revoked")
        return sign(k.secret.get_secret_value(), key, value)

    def headers(
        self, key_id: str, key: bytes | None, value: bytes | None
    ) -> tuple[tuple[str, bytes], ...]:
        """The ``af-key-id`` and ``af-signature`` headers for a record signed with ``key_id``."""
        signature = self.sign(key_id, key, value)
        return ((HEADER_KEY_ID, key_id.encode("utf-8")), (HEADER_SIGNATURE, signature.encode()))

    def verify(
        self,
        source: str,
        key_id: str | bytes | None,
        key: bytes | None,
        value: bytes | None,
        signature: str | bytes | None,
    ) -> str | None:
        """None if the record is validly signed by a live key of ``source``, else the reason
        code (:mod:`processors.reasons`), checked in the order below."""
        if signature is None:
            return reasons.SIGNATURE_MISSING
        kid = _text(key_id)
        if not kid:
            return reasons.KEY_ID_MISSING
        k = self._keys.get(kid)
        if k is None:
            return reasons.UNKNOWN_KEY_ID
        if k.source != source:
            return reasons.KEY_NOT_FOR_SOURCE
        if k.revoked:
            return reasons.KEY_REVOKED
        if not verify(k.secret.get_secret_value(), key, value, signature):
            return reasons.SIGNATURE_INVALID
        return None

    def __repr__(self) -> str:
        keys = ", ".join(repr(k) for k in sorted(self._keys.values(), key=lambda k: k.key_id))
        return f"KeyRing([{keys}])"
