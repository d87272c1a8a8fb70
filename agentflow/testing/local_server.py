"""What the test kit's local HTTP servers share: a threaded server on ``127.0.0.1`` (a free
port unless one is given), served from a daemon thread while used as a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 refuses connections when many clients ask at once.
    request_queue_size = 256
    daemon_threads = True


class LocalServer:
    """Serves :meth:`_handler`'s class; subclasses call :meth:`_listen` when built."""

    def _listen(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
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
