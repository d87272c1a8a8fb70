"""The gate reads the content type the way frameworks send it, and says what it read when
JSON comes without one."""

from __future__ import annotations

import pytest

from tests import gatekit as gk
from tests.gatekit import Raw
from tests.unit.test_gate_checks import TICKET, accepted, rejected


def _json_under(headers: tuple[tuple[str, bytes], ...]) -> Raw:
    value = gk.to_json(TICKET)
    return Raw(TICKET.key, value, headers + gk.sign_headers("helpdesk-2026a", TICKET.key, value))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("content-type", b"application/json"),
        ("Content-Type", b"application/json"),  # HTTP style
        ("contentType", b"application/json"),  # Spring Cloud Stream
        ("contentType", b'"application/json"'),  # Spring Kafka's JSON header mapper
        ("content-type", b"application/json; charset=UTF-8"),
        ("CONTENT-TYPE", b" Application/JSON ;charset=utf-8"),
    ],
)
def test_should_read_the_content_type_under_the_names_frameworks_send(
    name: str, value: bytes
) -> None:
    assert accepted(_json_under(((name, value),))).event == TICKET


@pytest.mark.parametrize(
    ("headers", "seen"),
    [
        ((), "(headers: 'af-key-id', 'af-signature')"),
        ((("Content_Type", b"application/json"),), "'Content_Type'"),
    ],
)
def test_should_say_which_headers_it_read_when_json_comes_without_a_content_type(
    headers: tuple[tuple[str, bytes], ...], seen: str
) -> None:
    out = rejected(_json_under(headers))
    assert out.reason == "undecodable"
    assert "looks like JSON but no content-type header was read" in out.detail
    assert seen in out.detail and "'content-type: application/json'" in out.detail
