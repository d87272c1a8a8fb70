"""A local payments service: refunds, deduplicated by ``Idempotency-Key``, every call logged.

- ``POST /refunds`` with ``Idempotency-Key`` and JSON ``{"amount", "currency", "reference"}``
  (strings; anything else, or a body cut short, is ``400`` and moves no money):
  the first call with a key makes the refund (``201``, effective); a later call with the same
  key returns the same refund (``200``, ``Idempotent-Replayed: true``) and moves no money. A
  key reused with other arguments is ``422``.
- ``GET /refunds/<key>``: the refund made under a key, or ``404`` (what ``reconcile`` asks).
- ``GET /calls``: every call received, in order, with whether it was effective.

``fail_after_effect`` makes the next N refunds take effect and then answer ``503``, as a
payments provider does when its response is lost: the caller cannot tell, and must ask again
with the same key. Run it alone with ``python -m examples.services.payments --port 8081``.
"""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from examples.services.http import JsonHandler, LocalJsonServer


@dataclass
class PaymentsService:
    """The service on a local port; a context manager that starts and stops it."""

    port: int = 0
    fail_after_effect: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._http = LocalJsonServer(self.port, _handler(self))

    @property
    def url(self) -> str:
        return self._http.url

    def effective_refunds(self) -> list[dict[str, Any]]:
        """The refunds that moved money, one per key."""
        with self._lock:
            return list(self.refunds.values())

    def refund(self, key: str | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Handle ``POST /refunds``: (status, response body); 200 is a replay."""
        with self._lock:
            call = {"key": key, "body": body, "effective": False}
            self.calls.append(call)
            if not key:
                return 400, {"error": "an Idempotency-Key header is required"}
            found = self.refunds.get(key)
            if found is not None:
                if found["request"] != body:
                    return 422, {"error": "Idempotency-Key reused with other arguments"}
                return 200, found["refund"]
            refund = {"refund_id": f"rf-{len(self.refunds) + 1:05d}", "status": "succeeded",
                      "amount": body.get("amount"), "currency": body.get("currency")}  # fmt: skip
            self.refunds[key] = {"request": body, "refund": refund}
            call["effective"] = True
            if self.fail_after_effect > 0:
                self.fail_after_effect -= 1
                return 503, {"error": "upstream timeout (the refund was made)"}
            return 201, refund

    def lookup(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.refunds.get(key)
            return None if found is None else dict(found["refund"])

    def __enter__(self) -> PaymentsService:
        self._http.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.__exit__(exc_type, exc, tb)


def _handler(service: PaymentsService) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            if self.path != "/refunds":
                self._send(404, {"error": "not found"})
                return
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw) if len(raw) == length else None
            except json.JSONDecodeError:
                body = None
            # A request cut short (its client died mid-send) or malformed moves no money.
            if not isinstance(body, dict) or not all(
                isinstance(body.get(f), str) for f in ("amount", "currency", "reference")
            ):
                self._send(400, {"error": "want JSON with amount, currency and reference"})
                return
            status, payload = service.refund(self.headers.get("idempotency-key"), body)
            self._send(status, payload, replayed=status == 200)

        def do_GET(self) -> None:
            if self.path == "/calls":
                with service._lock:
                    self._send(200, {"calls": list(service.calls)})
                return
            if self.path.startswith("/refunds/"):
                found = service.lookup(unquote(self.path.removeprefix("/refunds/")))
                self._send(404 if found is None else 200, found or {"error": "no such key"})
                return
            self._send(404, {"error": "not found"})

        def _send(self, status: int, payload: dict[str, Any], replayed: bool = False) -> None:
            self.send_json(status, payload, [("idempotent-replayed", "true")] if replayed else [])

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081, help="port on 127.0.0.1 (8081)")
    args = parser.parse_args()
    with PaymentsService(port=args.port) as service:
        print(f"payments service on {service.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
