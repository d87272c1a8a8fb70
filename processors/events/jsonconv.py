"""Natural JSON to Avro datum, checked against a parsed Avro schema.

"Natural" JSON is what webhooks send: unions are given as the bare value (not Avro's
``{"type": value}`` wrapping), ``timestamp-millis`` fields may be epoch milliseconds or an
RFC 3339 string with a UTC offset, ``bytes`` are strings of code points 0-255 (as in Avro's JSON
encoding). Missing fields take their schema default; unknown fields are refused.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from processors import reasons
from processors.events.common import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN
from processors.events.errors import EventDecodeError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_RANGES = {"int": (INT32_MIN, INT32_MAX), "long": (INT64_MIN, INT64_MAX)}


def _invalid(path: str, message: str) -> EventDecodeError:
    return EventDecodeError(reasons.SCHEMA_INVALID, f"{path or '<root>'}: {message}")


def parse_timestamp_millis(value: object, path: str = "") -> int:
    """Epoch milliseconds from an int or an RFC 3339 string with offset; else schema_invalid."""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise _invalid(path, f"not an RFC 3339 timestamp: {value[:40]!r}") from None
        if when.tzinfo is None or "T" not in value.upper():
            raise _invalid(path, "timestamp needs a date, a time and a UTC offset")
        value = (when - _EPOCH) // _MS
    return _integer(value, "long", path)


def _integer(value: object, kind: str, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(path, f"expected {kind}, got {type(value).__name__}")
    low, high = _RANGES[kind]
    if not low <= value <= high:
        raise _invalid(path, f"{kind} out of range")
    return value


def _primitive(value: object, kind: str, path: str) -> Any:
    if kind == "null":
        if value is not None:
            raise _invalid(path, "expected null")
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _invalid(path, "expected boolean")
        return value
    if kind in _RANGES:
        return _integer(value, kind, path)
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(path, f"expected {kind}")
        if not math.isfinite(value):
            raise _invalid(path, "non-finite number")
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise _invalid(path, "expected string")
        return value
    if kind == "bytes":
        if not isinstance(value, str):
            raise _invalid(path, "expected bytes as a string")
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise _invalid(path, "bytes string has code points above 255") from None
    raise _invalid(path, f"unsupported type {kind}")  # pragma: no cover - fixed, etc.


def _record(value: object, schema: Mapping[str, Any], names: Mapping[str, Any], path: str) -> Any:
    if not isinstance(value, dict):
        raise _invalid(path, f"expected object for {schema['name']}")
    known = {f["name"] for f in schema["fields"]}
    extra = sorted(k for k in value if k not in known)
    if extra:
        raise _invalid(path, f"unknown field(s) {', '.join(map(str, extra))[:200]}")
    out: dict[str, Any] = {}
    for f in schema["fields"]:
        sub = f"{path}.{f['name']}" if path else f["name"]
        if f["name"] in value:
            out[f["name"]] = to_datum(value[f["name"]], f["type"], names, sub)
        elif "default" in f:
            out[f["name"]] = copy.deepcopy(f["default"])
        else:
            raise EventDecodeError(reasons.MISSING_FIELD, f"{sub}: required field is missing")
    return out


def to_datum(value: object, schema: Any, names: Mapping[str, Any], path: str = "") -> Any:
    """Convert decoded JSON ``value`` to the Avro datum ``schema`` describes.

    ``names`` maps full names to named type definitions (for references). Raises
    :class:`EventDecodeError` (``schema_invalid`` or ``missing_field``) on any mismatch.
    """
    if isinstance(schema, str):
        if schema in names:
            return to_datum(value, names[schema], names, path)
        return _primitive(value, schema, path)
    if isinstance(schema, list):
        if value is None and "null" in schema:
            return None
        errors: list[EventDecodeError] = []
        for branch in schema:
            if branch == "null":
                continue
            try:
                return to_datum(value, branch, names, path)
            except EventDecodeError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise _invalid(path, "value matches no branch of the union")
    kind = schema["type"]
    if schema.get("logicalType") == "timestamp-millis" and kind == "long":
        return parse_timestamp_millis(value, path)
    if kind in ("record", "error"):
        return _record(value, schema, names, path)
    if kind == "enum":
        if not isinstance(value, str) or value not in schema["symbols"]:
            raise _invalid(path, f"expected one of {', '.join(schema['symbols'])}")
        return value
    if kind == "array":
        if not isinstance(value, list):
            raise _invalid(path, "expected array")
        return [to_datum(v, schema["items"], names, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _invalid(path, "expected object (map)")
        return {k: to_datum(v, schema["values"], names, f"{path}.{k}") for k, v in value.items()}
    if isinstance(kind, str):
        return _primitive(value, kind, path)
    return to_datum(value, kind, names, path)  # pragma: no cover - {"type": {...}} nesting
