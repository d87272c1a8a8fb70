"""What the example services share: a threaded JSON server on a local port.

:class:`LocalJsonServer` serves a handler class on ``127.0.0.1`` in a background thread (a
context manager starts and stops it); handlers subclass :class:`JsonHandler` for quiet logs and
:meth:`JsonHandler.send_json`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 refused connections when a runner sent 50 at once.
    request_queue_size = 256
    daemon_threads = True


class LocalJsonServer:
    """``handler`` served on ``127.0.0.1:port`` (0: a free port) from a background thread."""

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LocalJsonServer:
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


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and logs nothing."""

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def send_json(
        self, status: int, payload: dict[str, Any], headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
