"""A local OTLP/HTTP traces receiver, for tests: it accepts what an OpenTelemetry exporter
posts to ``/v1/traces`` (protobuf) and keeps every span, with its service's name.

    with OtlpReceiver() as otlp:   # AGENTFLOW_TRACES_ENDPOINT=otlp.url
        ...
        spans = otlp.spans()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from agentflow.testing.local_server import LocalServer


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as an exporter sent it; ids in hex, ``parent_id`` empty for a root."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@dataclass
class OtlpReceiver(LocalServer):
    """The receiver; a context manager that serves on a free local port."""

    received: list[ReceivedSpan] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listen()

    @property
    def url(self) -> str:
        """The traces endpoint, for ``AGENTFLOW_TRACES_ENDPOINT``."""
        return f"{self.root_url}/v1/traces"

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.received)

    def _keep(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(resource.get("service.name", ""))
            for scope in resource_spans.scope_spans:
                for s in scope.spans:
                    spans.append(ReceivedSpan(
                        service, s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(),
                        {a.key: _value(a.value) for a in s.attributes},
                    ))  # fmt: skip
        with self._lock:
            self.received.extend(spans)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                receiver._keep(body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        return Handler
