"""Table value codecs. A table declares one; the host encodes with it for RocksDB and the
changelog. (The workflow engine uses an Avro codec from ``processors.events``.)"""

from __future__ import annotations

import json
import struct
from typing import Any

_INT = struct.Struct(">q")


class IntCodec:
    """Signed 64-bit integers, big-endian."""

    def encode(self, value: int) -> bytes:
        return _INT.pack(value)

    def decode(self, data: bytes) -> int:
        value: int = _INT.unpack(data)[0]
        return value


class JsonCodec:
    """JSON documents, compact, UTF-8."""

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


class BytesCodec:
    """Raw bytes, unchanged."""

    def encode(self, value: bytes) -> bytes:
        return value

    def decode(self, data: bytes) -> bytes:
        return data
