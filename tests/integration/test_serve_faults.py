"""``agentflow serve`` while its broker stops and comes back (an isolated broker of this test's
own): requests get 503 while it is down, nothing answered 202 is lost or doubled, and what is
sent after the restart is accepted again."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.readers import read_topic
from tests.integration.faust_apps._harness import run_agentflow
from tests.integration.test_serve import KEYS, _envelope, _signed
from tests.integration.workers import Served

pytestmark = pytest.mark.timeout(300)


class Sender(threading.Thread):
    """Posts envelopes one after another, keeping each answer's status by event id."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.answers: list[tuple[str, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                event_id = f"fault-{n}"
                body, headers = _signed(_envelope(event_id, f"fault-wf-{n % 50}"))
                try:
                    status = client.post("/v1/events", content=body, headers=headers).status_code
                except httpx.TransportError:
                    status = 0
                self.answers.append((event_id, status))
                n += 1
                time.sleep(0.02)

    def count(self, status: int) -> int:
        return sum(1 for _, s in self.answers if s == status)

    def wait_for(self, status: int, more: int, timeout: float = 90) -> None:
        target = self.count(status) + more
        deadline = time.monotonic() + timeout
        while self.count(status) < target:
            assert time.monotonic() < deadline, f"no {more} more {status}s: {self.answers[-5:]}"
            time.sleep(0.1)


def test_requests_get_503_while_the_broker_is_down_and_nothing_accepted_is_lost(
    isolated_broker_env: dict[str, str], tmp_path: Path
) -> None:
    env = isolated_broker_env
    up = run_agentflow("broker", "up", "--json", env=env)
    bootstrap = up["bootstrap"]
    dep = EngineDeployment.make(bootstrap, "faults.", tmp_path / "data", tag="flt")
    server = Served({
        "AGENTFLOW_BOOTSTRAP_SERVERS": bootstrap, "AGENTFLOW_TOPIC_PREFIX": dep.prefix,
        "AGENTFLOW_SIGNING_KEYS": json.dumps(KEYS), "AGENTFLOW_ACK_TIMEOUT_S": "2",
    }, tmp_path / "serve.log")  # fmt: skip
    sender = Sender("")
    try:
        sender.url = server.start().url
        sender.start()
        sender.wait_for(202, 50)
        run_agentflow("broker", "down", "--json", env=env, timeout=120)
        sender.wait_for(503, 3)
        run_agentflow("broker", "up", "--json", env=env, timeout=120)
        sender.wait_for(202, 50)
        assert server.proc is not None and server.proc.poll() is None
    finally:
        sender.stop.set()
        if sender.ident is not None:
            sender.join(timeout=60)
        server.stop()
    accepted = [e for e, s in sender.answers if s == 202]
    refused = {s for _, s in sender.answers if s != 202}
    assert refused <= {503}, sender.answers
    on_topic = [json.loads(m.value or b"")["event_id"] for m in read_topic(bootstrap, dep.ingress)]
    assert len(on_topic) == len(set(on_topic))  # nothing twice
    assert set(accepted) <= set(on_topic)  # nothing answered 202 is lost
    after = [e for e, s in sender.answers[-20:]]
    assert set(after) <= set(accepted)  # everything since the restart went through
