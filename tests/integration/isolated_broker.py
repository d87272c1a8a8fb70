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


def _free_ports(count: int = 3) -> int:
    """A port p with p ... p + count - 1 free (a node listens on p, its controller on p + 1,
    its SASL listener on p + 2; a three-node cluster takes nine)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port < 65535 - count and all(_port_free(port + i) for i in range(count)):
            return port
    raise AssertionError(f"no {count} free ports in a row found")


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


def _isolated(tmp_path: Path, ports: int, configs: list[Path]) -> Iterator[dict[str, str]]:
    env = {
        "AGENTFLOW_STATE_DIR": str(tmp_path / "state"),
        "AGENTFLOW_BROKER_PORT": str(_free_ports(ports)),
    }
    try:
        yield env
    finally:
        with contextlib.suppress(Exception):
            run_agentflow("broker", "down", "--json", env=env, timeout=60)
        for config in configs:
            for pid in _brokers_using(config):  # only the brokers this test started
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def isolated_broker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Env for a second broker; stops whatever that broker left running, whatever happened."""
    yield from _isolated(tmp_path, 3, [tmp_path / "state" / "broker" / "server.properties"])


@pytest.fixture
def cluster_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Env for a three-node cluster of the test's own (`broker up --nodes 3`), on nine free
    ports; stops its nodes, whatever happened."""
    cluster = tmp_path / "state" / "broker" / "cluster-3"
    yield from _isolated(tmp_path, 9, [cluster / f"node-{i}" / "server.properties"
                                       for i in (1, 2, 3)])  # fmt: skip
