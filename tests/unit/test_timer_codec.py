"""The ``timers`` table codec: msgpack with a format byte, and the older JSON still read."""

from __future__ import annotations

import json

import pytest

from processors.engine.decision import TimerRef
from processors.engine.timers import TIMER_FORMAT_MSGPACK, TimerRefCodec

REF = TimerRef(1_789_999_999_000, "wf-7", "evt-3", "hold", "customer.replied")


def test_a_timer_ref_round_trips_behind_its_format_byte() -> None:
    codec = TimerRefCodec()
    data = codec.encode(REF)
    assert data[0] == TIMER_FORMAT_MSGPACK
    assert codec.decode(data) == REF


def test_an_entry_written_as_json_by_an_older_worker_still_decodes() -> None:
    older = json.dumps(REF.to_json(), separators=(",", ":"), sort_keys=True).encode()
    assert TimerRefCodec().decode(older) == REF


def test_msgpack_is_smaller_than_the_json_it_replaces() -> None:
    older = json.dumps(REF.to_json(), separators=(",", ":"), sort_keys=True).encode()
    assert len(TimerRefCodec().encode(REF)) < len(older)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x07whatever",
        bytes([TIMER_FORMAT_MSGPACK]) + b"\x81\xa4kind\xa4nope",
        b'{"due_ms":1,"workflow_id":"w","timer_id":"t","kind":"nope","name":"n"}',
    ],
    ids=["empty", "unknown format", "msgpack missing fields", "json unknown kind"],
)
def test_an_entry_that_is_not_a_timer_ref_is_refused_with_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        TimerRefCodec().decode(data)


def test_an_unknown_kind_in_msgpack_is_refused() -> None:
    codec = TimerRefCodec()
    data = codec.encode(REF).replace(b"\xa4hold", b"\xa4nope")
    with pytest.raises(ValueError, match="invalid timer index entry"):
        codec.decode(data)
