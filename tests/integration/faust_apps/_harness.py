"""Helpers shared by the faust integration tests: topics, worker subprocesses, result files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[3]


def create_topics(
    bootstrap: str, partitions_by_name: dict[str, int], config: dict[str, str] | None = None
) -> None:
    """Create the topics (replication factor 1) and wait until each exists."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, n, 1, config=dict(config or {})) for name, n in partitions_by_name.items()],
        operation_timeout=30,
    )
    for fut in futures.values():
        fut.result()


def delete_topics_with_prefix(bootstrap: str, *prefixes: str) -> None:
    """Best-effort removal of every topic whose name starts with one of ``prefixes``."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefixes)]
        if names:
            for fut in admin.delete_topics(names, operation_timeout=30).values():
                fut.result()
    except Exception:  # cleanup only: never hide the test's own outcome
        pass


class FaustWorker:
    """One ``python -m <module> worker`` subprocess, with its output in a log file."""

    def __init__(self, module: str, env: dict[str, str], log_path: Path) -> None:
        self.module = module
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FaustWorker:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "worker", "-l", "info"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commits or flushes."""
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if the worker has not exited within ``timeout``."""
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    workers: Iterable[FaustWorker] = (),
    interval: float = 0.2,
) -> Any:
    """Poll ``condition`` until it returns a truthy value; fail early if a worker died."""
    workers = list(workers)
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        for w in workers:
            if not w.alive():
                raise AssertionError(
                    f"faust worker exited while waiting for {what}:\n{w.log_tail()}"
                )
        if time.monotonic() > deadline:
            tails = "\n---\n".join(w.log_tail() for w in workers)
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        time.sleep(interval)


def read_json(path: Path) -> Any:
    """The JSON document at ``path``, or None while it does not exist yet."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def write_json_atomically(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


AGENTFLOW = Path(sys.executable).with_name("agentflow")


def run_agentflow(*args: str, env: dict[str, str], timeout: float = 120.0) -> Any:
    """Run the ``agentflow`` console script with ``--json`` output; return the parsed JSON.

    Inherited ``AGENTFLOW_*`` settings are dropped (except the jar cache) so only ``env`` counts.
    """
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENTFLOW_") or k == "AGENTFLOW_CACHE_DIR"
    }
    done = subprocess.run(
        [str(AGENTFLOW), *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"agentflow {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return json.loads(done.stdout)
