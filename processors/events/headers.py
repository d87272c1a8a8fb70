"""Kafka header names and values of the event contract, in one place.

Header values are bytes on the wire; the constants here are ``str`` and are encoded as ASCII.
"""

from __future__ import annotations

from typing import Final

#: Says how the record value is encoded. Absent means Avro single-object encoding.
HEADER_CONTENT_TYPE: Final = "content-type"
#: Avro single-object encoding (``C3 01`` + CRC-64-AVRO fingerprint + Avro binary body).
CONTENT_TYPE_AVRO: Final = "application/avro"
#: A JSON object in the envelope shape (webhooks); see :func:`processors.events.decode_json`.
CONTENT_TYPE_JSON: Final = "application/json"
#: Lowercase hex HMAC-SHA256 of the record; see :mod:`processors.events.signing`.
HEADER_SIGNATURE: Final = "af-signature"
#: Id of the signing key that produced ``af-signature``.
HEADER_KEY_ID: Final = "af-key-id"
