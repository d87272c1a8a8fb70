"""The example payments service: one refund per Idempotency-Key, and nothing for a request
that is malformed or cut short (its client died mid-send)."""

from __future__ import annotations

import json
import socket
import urllib.request

from examples.services.payments import PaymentsService

BODY = {"amount": "30.00", "currency": "EUR", "reference": "T-1"}


def _post(url: str, body: dict[str, str], key: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        f"{url}/refunds", json.dumps(body).encode(), {"Idempotency-Key": key}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_a_key_refunds_once_and_other_arguments_under_it_are_refused() -> None:
    with PaymentsService() as service:
        assert _post(service.url, BODY, "k-1")[0] == 201
        status, again = _post(service.url, BODY, "k-1")
        assert (status, again["refund_id"]) == (200, "rf-00001")
        assert _post(service.url, {**BODY, "amount": "31.00"}, "k-1")[0] == 422
        assert [c["effective"] for c in service.calls] == [True, False, False]


def test_a_request_cut_short_or_malformed_moves_no_money() -> None:
    with PaymentsService() as service:
        host, port = service.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as conn:
            head = b"POST /refunds HTTP/1.0\r\nIdempotency-Key: k-2\r\nContent-Length: 100\r\n\r\n"
            conn.sendall(head + json.dumps(BODY).encode()[:20])
            conn.shutdown(socket.SHUT_WR)
            assert conn.recv(100).startswith(b"HTTP/1.0 400")
        assert _post(service.url, {"amount": "30.00"}, "k-3")[0] == 400
        assert service.effective_refunds() == []
