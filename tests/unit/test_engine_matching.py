"""Field values flattened to text for step inputs: exactly compact, sorted JSON for non-strings."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from processors.engine.matching import as_text

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(JSON_VALUES)
def test_should_render_non_strings_as_compact_sorted_json(value: Any) -> None:
    text = as_text(value)
    if isinstance(value, str):
        assert text == value
    else:
        assert text == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_should_render_numbers_and_booleans_like_json() -> None:
    assert [as_text(v) for v in (0, -7, 2**70, True, False)] == [
        "0",
        "-7",
        str(2**70),
        "true",
        "false",
    ]
