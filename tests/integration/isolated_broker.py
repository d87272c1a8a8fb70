"""A second, isolated broker for tests that stop and start one: its own state directory and
port pair, so the shared broker the other tests use is never touched."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.faust_apps._harness import run_agentflow


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports() -> int:
    """A port p with p, p + 1 and p + 2 free (the broker listens on p, its controller on
    p + 1, its SASL listener on p + 2)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port < 65534 and all(_port_free(port + i) for i in range(3)):
            return port
    raise AssertionError("no three free ports in a row found")


def _process_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _brokers_using(config: Path) -> list[int]:
    """Pids of live ``kafka.Kafka`` processes whose command line names ``config``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" in argv and str(config).encode() in argv:
            found.append(int(entry.name))
    return sorted(found)


@pytest.fixture
def isolated_broker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Env for a second broker; stops whatever that broker left running, whatever happened."""
    env = {
        "AGENTFLOW_STATE_DIR": str(tmp_path / "state"),
        "AGENTFLOW_BROKER_PORT": str(_free_ports()),
    }
    config = tmp_path / "state" / "broker" / "server.properties"
    try:
        yield env
    finally:
        with contextlib.suppress(Exception):
            run_agentflow("broker", "down", "--json", env=env, timeout=60)
        for pid in _brokers_using(config):  # only the broker this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
