"""A local service-status API, the back-end of the incident workflow's ``read`` tool.

``GET /services/<name>`` answers the service's health as monitoring would: its status, error
rate and recent deployments (deterministic per name, so runs compare). ``GET /calls`` lists
the calls received. Run it alone with ``python -m examples.services.status --port 8082``.
"""

from __future__ import annotations

import argparse
import hashlib
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from examples.services.http import JsonHandler, LocalJsonServer


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
        self._http = LocalJsonServer(self.port, _handler(self))

    @property
    def url(self) -> str:
        return self._http.url

    def __enter__(self) -> StatusService:
        self._http.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.__exit__(exc_type, exc, tb)


def _handler(service: StatusService) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path == "/calls":
                self.send_json(200, {"calls": list(service.calls)})
            elif self.path.startswith("/services/"):
                name = unquote(self.path.removeprefix("/services/"))
                service.calls.append(name)
                self.send_json(200, service_health(name))
            else:
                self.send_json(404, {"error": "not found"})

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
