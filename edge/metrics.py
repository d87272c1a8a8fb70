"""``agentflow serve``'s metrics, served by the app itself at ``GET /metrics``.

- ``agentflow_http_requests_total{route, source, status}``: requests answered, by route
  (``events``, ``webhook``), webhook source and HTTP status (202 accepted, 4xx refused, 429
  rate limited, 503 broker unavailable);
- ``agentflow_http_request_seconds{route}``: time to answer, the broker's acknowledgement
  included.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

#: Accept latency buckets, in seconds.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Handler = Callable[[Request], Awaitable[Response]]


class EdgeMetrics:
    """Counts the app's answers in ``registry`` and serves it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "agentflow_http_requests", "Requests answered, by route, source and status",
            ("route", "source", "status"), registry=registry,
        )  # fmt: skip
        self.seconds = Histogram(
            "agentflow_http_request_seconds", "Time to answer a request", ("route",),
            buckets=REQUEST_BUCKETS, registry=registry,
        )  # fmt: skip

    def timed(self, route: str, handler: Handler) -> Handler:
        """``handler``, counted and timed under ``route``."""

        async def counted(request: Request) -> Response:
            started = time.perf_counter()
            response = await handler(request)
            source = request.path_params.get("source", "")
            self.requests.labels(route, source, str(response.status_code)).inc()
            self.seconds.labels(route).observe(time.perf_counter() - started)
            return response

        return counted

    async def scrape(self, request: Request) -> Response:
        """``GET /metrics`` in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
