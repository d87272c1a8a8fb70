"""HMAC-SHA256 record signing: the exact rule, constant-time checks, rotation and revocation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from agentflow.testing import sample_events
from processors.events import HEADER_KEY_ID, HEADER_SIGNATURE, KeyRing, encode, sign, verify

SECRET = b"s3cr3t-zendesk-2024"
KEY = b"wf-acme-1001"
VALUE = b"\xc3\x01payload"
# From: { printf '%s\n' "wf-acme-1001"; printf '\xc3\x01payload'; } \
#         | openssl dgst -sha256 -hmac "s3cr3t-zendesk-2024"
OPENSSL_DIGEST = "357923782ae3f8e349c7eb6173de2f2695c6cf2d5dafb2f6e6bf91d579984577"


def ring() -> KeyRing:
    return KeyRing.from_mapping(
        {
            "zendesk": {"zd-2024-01": "old-secret", "zd-2024-06": SECRET},
            "console": {"con-1": b"\x00\x01binary\xff"},
        },
        revoked=["zd-2023"],
    )


def test_known_answer() -> None:
    assert sign(SECRET, KEY, VALUE) == OPENSSL_DIGEST
    independent = hmac.new(SECRET, KEY + b"\n" + VALUE, hashlib.sha256).hexdigest()
    assert sign(SECRET, KEY, VALUE) == independent


def test_real_event_signature() -> None:
    event = sample_events()[0]
    value = encode(event)
    signature = sign(SECRET, event.key, value)
    expected = hmac.new(SECRET, event.key + b"\n" + value, hashlib.sha256).hexdigest()
    assert signature == expected and len(signature) == 64 and signature == signature.lower()
    assert verify(SECRET, event.key, value, signature)
    assert verify(SECRET, event.key, value, signature.encode())
    assert verify(SECRET, event.key, value, signature.upper())


def test_null_key_and_value_sign_as_empty() -> None:
    assert sign(SECRET, None, None) == hmac.new(SECRET, b"\n", hashlib.sha256).hexdigest()


def test_every_byte_is_covered() -> None:
    good = sign(SECRET, KEY, VALUE)
    assert not verify(SECRET, KEY + b"x", VALUE, good)
    assert not verify(SECRET, KEY, VALUE + b"x", good)
    assert not verify(SECRET, KEY[:-1], KEY[-1:] + VALUE, good)  # moving the boundary
    assert not verify(b"other", KEY, VALUE, good)
    assert not verify(SECRET, KEY, VALUE, good[:-1])
    assert not verify(SECRET, KEY, VALUE, "é" * 64)
    assert not verify(SECRET, KEY, VALUE, b"\xff" * 64)


def test_keys_with_a_newline_are_refused() -> None:
    with pytest.raises(ValueError):
        sign(SECRET, b"wf\n1", VALUE)
    forged = hmac.new(SECRET, b"wf\n1\n" + VALUE, hashlib.sha256).hexdigest()
    assert not verify(SECRET, b"wf\n1", VALUE, forged)


def test_verification_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify(SECRET, KEY, VALUE, OPENSSL_DIGEST)
    assert not verify(SECRET, KEY, VALUE, "0" * 64)
    assert ring().verify("zendesk", "zd-2024-06", KEY, VALUE, OPENSSL_DIGEST) is None
    assert len(calls) == 3


def test_rotation_two_live_keys_for_one_source() -> None:
    keys = ring()
    assert keys.key_ids("zendesk") == ("zd-2024-01", "zd-2024-06")
    for key_id in keys.key_ids("zendesk"):
        headers = dict(keys.headers(key_id, KEY, VALUE))
        assert headers[HEADER_KEY_ID] == key_id.encode()
        sig = headers[HEADER_SIGNATURE]
        assert keys.verify("zendesk", headers[HEADER_KEY_ID], KEY, VALUE, sig) is None
    old = keys.sign("zd-2024-01", KEY, VALUE)
    assert keys.verify("zendesk", "zd-2024-06", KEY, VALUE, old) == "signature_invalid"


def test_revoked_key_is_refused() -> None:
    keys = KeyRing.from_mapping({"zendesk": {"zd-2023": "leaked"}}, revoked=["zd-2023"])
    sig = sign(b"leaked", KEY, VALUE)
    assert keys.verify("zendesk", "zd-2023", KEY, VALUE, sig) == "key_revoked"
    assert keys.key_ids("zendesk") == ()
    assert keys.key_ids("zendesk", include_revoked=True) == ("zd-2023",)
    with pytest.raises(ValueError):
        keys.sign("zd-2023", KEY, VALUE)


def test_key_of_another_source_is_refused() -> None:
    keys = ring()
    sig = keys.sign("con-1", KEY, VALUE)
    assert keys.verify("console", "con-1", KEY, VALUE, sig) is None
    assert keys.verify("zendesk", "con-1", KEY, VALUE, sig) == "key_not_for_source"
    assert keys.source_of("con-1") == "console"


@pytest.mark.parametrize(
    ("key_id", "signature", "reason"),
    [
        ("zd-2024-06", None, "signature_missing"),
        (None, OPENSSL_DIGEST, "key_id_missing"),
        ("", OPENSSL_DIGEST, "key_id_missing"),
        ("nobody", OPENSSL_DIGEST, "unknown_key_id"),
        (b"\xff\xfe", OPENSSL_DIGEST, "unknown_key_id"),
        ("zd-2024-06", "0" * 64, "signature_invalid"),
        ("zd-2024-06", b"not hex at all", "signature_invalid"),
        ("zd-2024-06", OPENSSL_DIGEST, None),
        (b"zd-2024-06", OPENSSL_DIGEST.encode(), None),
    ],
)
def test_keyring_reasons(
    key_id: str | bytes | None, signature: str | bytes | None, reason: str | None
) -> None:
    assert ring().verify("zendesk", key_id, KEY, VALUE, signature) == reason


def test_secrets_never_show() -> None:
    keys = ring()
    for text in (repr(keys), str(keys), repr(keys._keys["zd-2024-06"])):
        assert "s3cr3t" not in text and "old-secret" not in text and "binary" not in text
        assert "zd-2024-06" in text or "SigningKey" in text


def test_bad_keyrings_are_refused() -> None:
    with pytest.raises(ValueError):
        KeyRing.from_mapping({"a": {"k": "x"}, "b": {"k": "y"}})
    with pytest.raises(ValueError):
        KeyRing.from_mapping({"a": {"k": ""}})
