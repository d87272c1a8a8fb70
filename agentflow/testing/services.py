"""A local HTTP service as a process of its own, for the demo and tests.

``LocalService.start("examples.services.payments")`` runs ``python -m <module> --port P`` on
a free port and waits until ``GET <ready_path>`` answers. A service in its own process keeps
its own interpreter lock: in a test's process it competed with the test's own reading of
topics and answered slowly under load.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from types import TracebackType
from typing import Any


@dataclass
class LocalService:
    """A running service: its base URL, JSON reads, stop."""

    proc: subprocess.Popen[bytes]
    url: str

    @staticmethod
    def start(module: str, ready_path: str = "/", timeout_s: float = 20.0) -> LocalService:
        """Start ``python -m module --port P``; RuntimeError if it does not answer in time."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port)], stdout=subprocess.DEVNULL
        )
        service = LocalService(proc, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                service.get_json(ready_path)
                return service
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        service.stop()
        raise RuntimeError(f"{module} did not start on port {port}")

    def get_json(self, path: str) -> Any:
        """``GET <path>`` as JSON."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.load(response)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> LocalService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
