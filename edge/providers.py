"""Each provider's own webhook signature, checked in constant time.

* ``github``: ``X-Hub-Signature-256: sha256=<hex>``, HMAC-SHA256 of the raw body.
* ``stripe``: ``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]``, HMAC-SHA256 of
  ``<t>.<body>``; ``t`` must be within ``tolerance_s`` of now (an old one is a replay).
* ``hmac``: a header of your choosing (``X-Signature`` by default), ``<hex>`` or
  ``sha256=<hex>``, HMAC-SHA256 of the raw body.

:func:`check` returns None for a valid signature, else the gate's reason code and a detail.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Literal

from processors import reasons

Provider = Literal["github", "stripe", "hmac"]
PROVIDERS: tuple[Provider, ...] = ("github", "stripe", "hmac")


def _hex_hmac(secret: bytes, message: bytes) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def check(
    provider: Provider,
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    now_s: float,
    *,
    header: str = "X-Signature",
    tolerance_s: float = 300.0,
) -> tuple[str, str] | None:
    """None if ``body`` is signed as ``provider`` signs; else (reason code, detail).
    ``headers`` is looked up case-insensitively by the caller's mapping (Starlette's is)."""
    if provider == "stripe":
        return _stripe(secret, headers.get("stripe-signature"), body, now_s, tolerance_s)
    name = "x-hub-signature-256" if provider == "github" else header.lower()
    given = headers.get(name)
    if not given:
        return reasons.SIGNATURE_MISSING, f"no {name} header"
    if given.startswith("sha256="):
        given = given[len("sha256=") :]
    elif provider == "github":
        return reasons.SIGNATURE_INVALID, f"{name} must be sha256=<hex>"
    if not _same(_hex_hmac(secret, body), given):
        return reasons.SIGNATURE_INVALID, f"{name} does not match the body"
    return None


def _stripe(
    secret: bytes, value: str | None, body: bytes, now_s: float, tolerance_s: float
) -> tuple[str, str] | None:
    if not value:
        return reasons.SIGNATURE_MISSING, "no stripe-signature header"
    parts = [p.split("=", 1) for p in value.split(",") if "=" in p]
    stamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v for k, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
        return reasons.SIGNATURE_INVALID, "stripe-signature must be t=<seconds>,v1=<hex>"
    stamp = stamps[0].strip()
    expected = _hex_hmac(secret, stamp.encode() + b"." + body)
    if not any(_same(expected, s) for s in signatures):
        return reasons.SIGNATURE_INVALID, "stripe-signature does not match the body"
    age = now_s - int(stamp)
    if abs(age) > tolerance_s:
        return reasons.STALE_EVENT, f"signed {age:.0f}s ago, beyond the {tolerance_s:g}s tolerance"
    return None
