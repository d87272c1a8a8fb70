"""``agentflow`` subprocesses for the integration tests: :class:`Worker` (``agentflow worker``
with its settings in ``AGENTFLOW_*`` variables, a stats file and a log file) and
:func:`run_cli` (one ``agentflow`` command, run to its end)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from agentflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "config" / "policy.json"
SIGNING_KEYS_FILE = ROOT / "config" / "signing-keys.dev.json"
#: The shipped policy and dev signing keys, as a worker's (or a command's) env.


def settings_for(bootstrap: str, prefix: str, **deployment: Any) -> Settings:
    """Settings for a test's own topics under ``prefix``, with the shipped policy and keys."""
    return Settings.of(
        kafka={"bootstrap_servers": bootstrap},
        deployment={"topic_prefix": prefix, **deployment},
        gate={"policy_file": POLICY_FILE},
        signing={"signing_keys_file": SIGNING_KEYS_FILE, "signing_keys": None},
    )


SHIPPED_CONFIG = {
    "AGENTFLOW_POLICY_FILE": str(POLICY_FILE),
    "AGENTFLOW_SIGNING_KEYS_FILE": str(SIGNING_KEYS_FILE),
}
#: ``--processor`` for the gate alone (nothing behind it).
GATE_ONLY = "agentflow.composition:gate_only"
CLI = (sys.executable, "-m", "agentflow.cli.main")


def cli_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment, with the repo importable and ``env`` on top."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **env}


def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``agentflow <args>`` run to its end, its output captured as text."""
    return subprocess.run(
        [*CLI, *args],
        input=stdin,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@dataclass
class Worker:
    """An ``agentflow worker`` subprocess.

    With no ``processor`` it runs the default processors (the gate fused with the
    orchestrator); with no ``roles``, on the catalog topics under ``prefix``. Its stats are
    written to :attr:`stats_file` every half second, its output to :attr:`log_file`. Used as
    a context manager, it is stopped on exit (killed if SIGTERM does not end it).
    """

    bootstrap: str
    prefix: str
    app_id: str
    data_dir: Path
    worker_id: str = "w1"
    processor: str = ""
    roles: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    #: The ``agentflow`` command it runs: the stream host, or ``("steps", "run")``.
    command: tuple[str, ...] = ("worker",)
    #: Options after the command (``--json``, say).
    args: tuple[str, ...] = ()

    @property
    def stats_file(self) -> Path:
        return self.data_dir / f"stats-{self.worker_id}.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / f"worker-{self.worker_id}.log"

    def start(self) -> Worker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stats_file.unlink(missing_ok=True)
        env = {
            "AGENTFLOW_BOOTSTRAP_SERVERS": self.bootstrap,
            "AGENTFLOW_APP_ID": self.app_id,
            "AGENTFLOW_TOPIC_PREFIX": self.prefix,
            "AGENTFLOW_WORKER_ID": self.worker_id,
            "AGENTFLOW_DATA_DIR": str(self.data_dir),
            "AGENTFLOW_STATS_FILE": str(self.stats_file),
            "AGENTFLOW_STATS_INTERVAL_S": "0.5",
            "AGENTFLOW_SESSION_TIMEOUT_MS": "6000",
            "AGENTFLOW_TRANSACTION_TIMEOUT_MS": "10000",
            **self.env,
        }
        cmd = [*CLI, *self.command, *self.args]
        if self.processor:
            cmd += ["--processor", self.processor]
        cmd += [arg for role in self.roles for arg in ("--role", role)]
        log = open(self.log_file, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            cmd, env=cli_env(env), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        log.close()
        return self

    def stats(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        """The first stats report that satisfies ``predicate``; fails if the worker exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.stats()
            if st and predicate(st):
                return st
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for worker stats {self.stats()}\n{self.log()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def partitions(self) -> set[int]:
        """The partitions the worker's last stats report says it owns."""
        parts = self.stats().get("assigned_partitions", [])
        assert isinstance(parts, list)
        return {int(p) for p in parts}

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def wait_exit(self, timeout: float) -> int:
        """Wait for the worker to end by itself; its exit code (-N: killed by signal N)."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running after {timeout} s\n{self.log()}") from None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then its exit code; a worker that does not stop in ``timeout`` is killed
        (so it cannot outlive the test) and the test fails."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"worker ignored SIGTERM for {timeout} s\n{self.log()}") from None

    def log(self) -> str:
        try:
            return self.log_file.read_text()[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.kill()


def gate_worker(bootstrap: str, prefix: str, data_dir: Path) -> Worker:
    """``agentflow worker`` running the gate alone (shipped policy and dev keys) on the catalog
    topics under ``prefix``, started; use it in a ``with``."""
    app_id = f"gate-{uuid.uuid4().hex[:8]}"
    env = dict(SHIPPED_CONFIG)
    return Worker(bootstrap, prefix, app_id, data_dir, processor=GATE_ONLY, env=env).start()


@dataclass
class Served:
    """An ``agentflow serve`` subprocess on a free port, up (``/healthz`` answers) once
    :meth:`start` returns; its output in :attr:`log_file`."""

    env: Mapping[str, str]
    log_file: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Served:
        import httpx  # only the HTTP tests need it

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with self.log_file.open("w") as log:
            self.proc = subprocess.Popen([*CLI, "serve", "--port", str(self.port)],
                                         env=cli_env(self.env), cwd=ROOT, stdout=log,
                                         stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log()
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within 20 s."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        finally:
            self.proc.kill()
