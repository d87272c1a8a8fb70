"""A local service-status API, the back-end of the incident workflow's ``read`` tool.

``GET /services/<name>`` answers the service's health as monitoring would: its status, error
rate and recent deployments (deterministic per name, so runs compare). ``GET /calls`` lists
the calls received. Run it alone with ``python -m examples.services.status --port 8082``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote


class _Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True


def service_health(name: str) -> dict[str, Any]:
    """What the API says of ``name``: the same every time for the same name."""
    digest = hashlib.sha256(name.encode()).digest()
    return {
        "service": name,
        "status": "degraded" if digest[0] % 2 else "healthy",
        "error_rate": f"{digest[1] / 2550:.3f}",
        "deployments": [f"v2.{digest[2] % 9}.{digest[3] % 9}"],
    }


@dataclass
class StatusService:
    """The API on a local port; a context manager that starts and stops it."""

    port: int = 0
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = _Server(("127.0.0.1", self.port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StatusService:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(service: StatusService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            if self.path == "/calls":
                self._send(200, {"calls": list(service.calls)})
            elif self.path.startswith("/services/"):
                name = unquote(self.path.removeprefix("/services/"))
                service.calls.append(name)
                self._send(200, service_health(name))
            else:
                self._send(404, {"error": "not found"})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8082, help="port on 127.0.0.1 (8082)")
    args = parser.parse_args()
    with StatusService(port=args.port) as service:
        print(f"status service on {service.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
