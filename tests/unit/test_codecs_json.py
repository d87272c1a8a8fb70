"""JsonCodec: compact, key-sorted JSON, the same document json.dumps would write."""

from __future__ import annotations

import json
from typing import Any

import pytest

from processors.codecs import JsonCodec


def _stdlib(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1.5, None, True, "x"], "c": {"z": 0, "y": -7}},
        {"amount": "120.50", "roles": ("lead", "finance"), "n": 1_789_999_999_000},
        {2: "int keys", 1: "go the stdlib's way"},
        [],
    ],
)
def test_it_writes_the_bytes_json_dumps_writes_for_ascii_documents(value: Any) -> None:
    assert JsonCodec().encode(value) == _stdlib(value)


def test_non_ascii_text_is_utf8_and_decodes_to_the_same_document() -> None:
    value = {"name": "Zoë", "note": "naïve — ok"}
    data = JsonCodec().encode(value)
    assert "Zoë".encode() in data
    assert json.loads(data) == value == JsonCodec().decode(_stdlib(value))


def test_a_value_that_is_not_json_is_refused_with_a_value_error() -> None:
    with pytest.raises(ValueError):
        JsonCodec().decode(b"{not json")
