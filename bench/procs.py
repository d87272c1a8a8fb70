"""Shared process and topic helpers of the bench runners: the ``agentflow worker`` command and
its environment, starting and stopping contender subprocesses, log tails, topic cleanup."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.kafka import delete_topics_containing

ROOT = Path(__file__).resolve().parents[1]
WORKER_CMD = (sys.executable, "-m", "agentflow.cli.main", "worker", "--log-level", "WARNING")
Progress = Callable[[str], None]


def host_environ(
    bootstrap: str,
    *,
    app_id: str,
    prefix: str,
    data_dir: Path,
    batch_size: int,
    commit_interval_ms: int,
    kafka_options: dict[str, str] | None = None,
    worker_id: str = "bench",
) -> dict[str, str]:
    """The ``AGENTFLOW_*`` variables of a bench ``agentflow worker`` (exactly-once)."""
    environ = {
        "AGENTFLOW_BOOTSTRAP_SERVERS": bootstrap,
        "AGENTFLOW_APP_ID": app_id,
        "AGENTFLOW_TOPIC_PREFIX": prefix,
        "AGENTFLOW_WORKER_ID": worker_id,
        "AGENTFLOW_DATA_DIR": str(data_dir),
        "AGENTFLOW_STATS_FILE": str(data_dir / "stats.json"),
        # Every second, so that the bench's readings of it bracket a run closely.
        "AGENTFLOW_STATS_INTERVAL_S": "1",
        "AGENTFLOW_BATCH_SIZE": str(batch_size),
        "AGENTFLOW_COMMIT_INTERVAL_MS": str(commit_interval_ms),
        "AGENTFLOW_PROCESSING_GUARANTEE": "exactly_once",
    }
    if kafka_options:
        environ["AGENTFLOW_KAFKA_OPTIONS"] = json.dumps(kafka_options)
    return environ


def start_process(
    cmd: list[str] | tuple[str, ...], environ: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a contender in its own session, stdout and stderr appended to ``log_path``."""
    environ = {**environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            list(cmd),
            cwd=ROOT,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log.close()


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def delete_topics_quietly(bootstrap: str, tag: str, progress: Progress) -> None:
    """Delete every topic whose name contains ``tag``; a failure is reported, not raised."""
    try:
        deleted = delete_topics_containing(bootstrap, tag)
    except Exception as exc:  # cleanup only: keep the figures
        progress(f"could not delete topics with '{tag}': {exc}")
        return
    if deleted:
        progress(f"deleted {len(deleted)} topic(s) containing '{tag}'")
