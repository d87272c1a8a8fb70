"""CRC-64-AVRO (Rabin) schema fingerprints and the Avro single-object encoding header.

Both follow the Avro specification ("Schema Fingerprints" and "Single-object encoding"):
a single-object encoded datum is ``C3 01``, then the 8-byte *little-endian* CRC-64-AVRO
fingerprint of the writer schema's Parsing Canonical Form, then the Avro binary body.
"""

from __future__ import annotations

from typing import Final

#: The two marker bytes that open every single-object encoded datum.
SINGLE_OBJECT_MAGIC: Final = b"\xc3\x01"
#: Length of the single-object header: magic plus the 8-byte fingerprint.
HEADER_LEN: Final = 10

#: The spec's ``EMPTY``: the fingerprint of the empty byte string.
CRC64_AVRO_EMPTY: Final = 0xC15D213AA4D7A795


def _make_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_TABLE: Final = _make_table()


def crc64_avro(data: bytes) -> int:
    """The CRC-64-AVRO fingerprint of ``data`` as an unsigned 64-bit integer (spec algorithm)."""
    fp = CRC64_AVRO_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def schema_fingerprint(canonical_form: str) -> bytes:
    """The 8 little-endian bytes of the CRC-64-AVRO of a Parsing Canonical Form (UTF-8)."""
    return crc64_avro(canonical_form.encode("utf-8")).to_bytes(8, "little")


def single_object_header(fingerprint: bytes) -> bytes:
    """``C3 01`` followed by the 8-byte fingerprint."""
    if len(fingerprint) != 8:
        raise ValueError("a CRC-64-AVRO fingerprint is 8 bytes")
    return SINGLE_OBJECT_MAGIC + fingerprint
