"""Shared fixtures. Broker selection, in order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` when set;
2. pytest-docker's ``docker_services`` with docker-compose.yml, when a Docker engine answers;
3. the local jar broker (``agentflow broker up``).

A run gets a unique topic prefix, so runs never see each other's topics. With no broker, an
integration test fails; it never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # Only the broker: the worker service is for users, the tests start their own workers.
    return ["up --build --wait -d kafka"]


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """The bootstrap address of a real broker that answers metadata requests."""
    from agentflow import broker

    explicit = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if explicit:
        address = explicit
    elif _docker_engine_answers():
        request.getfixturevalue("docker_services")
        address = "127.0.0.1:9092"
    elif broker.broker_answers(broker.bootstrap_address(), timeout=2.0):
        address = broker.bootstrap_address()  # a local broker is already up (another checkout)
    else:
        try:
            address = broker.up(echo=lambda m: None).bootstrap
        except broker.BrokerError as exc:
            pytest.fail(f"No Kafka broker for the integration tests: {exc}")
    if not broker.broker_answers(address, timeout=10.0):
        pytest.fail(f"No Kafka broker answers at {address}; the integration tests need one.")
    return address


@pytest.fixture(scope="session")
def kafka_sasl_bootstrap(kafka_bootstrap: str) -> str:
    """The same broker's SASL_PLAINTEXT listener with the development PLAIN login
    (``agentflow broker up`` and docker-compose.yml open one on port 9094):
    ``KAFKA_SASL_BOOTSTRAP_SERVERS`` for a broker of your own."""
    import socket

    from agentflow import broker

    address = os.environ.get("KAFKA_SASL_BOOTSTRAP_SERVERS") or (
        broker.BrokerPaths.configured().sasl_bootstrap
    )
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        pytest.fail(
            f"no SASL listener at {address} ({exc}); restart the local broker "
            "(`agentflow broker down && agentflow broker up`) or set KAFKA_SASL_BOOTSTRAP_SERVERS"
        )
    return address


@pytest.fixture(scope="session")
def run_prefix() -> str:
    """A topic prefix unique to this test run."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def topic_prefix(run_prefix: str, request: pytest.FixtureRequest) -> str:
    """A topic prefix unique to this test, under the run's prefix."""
    return f"{run_prefix}{uuid.uuid4().hex[:6]}."
