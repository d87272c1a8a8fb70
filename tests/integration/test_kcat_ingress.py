"""A non-Python upstream: a JSON event signed with ``openssl`` and produced with ``kcat`` is
admitted by the gate worker, as the README documents."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Message

from agentflow.sdk.reader import end_offsets, read_topic
from processors.events import decode
from processors.partitioning import partition_for
from topics import by_role, catalog, ensure_topics

ROOT = Path(__file__).resolve().parents[2]
SECRET = json.loads((ROOT / "config" / "signing-keys.dev.json").read_text())["helpdesk"][
    "helpdesk-dev-1"
]


@contextmanager
def gate_worker(bootstrap: str, prefix: str, data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``agentflow worker`` (the validation gate) on this test's topics, stopped on exit."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AGENTFLOW_BOOTSTRAP_SERVERS": bootstrap,
        "AGENTFLOW_TOPIC_PREFIX": prefix,
        "AGENTFLOW_APP_ID": f"gate-{uuid.uuid4().hex[:8]}",
        "AGENTFLOW_WORKER_ID": "w1",
        "AGENTFLOW_DATA_DIR": str(data_dir),
        "AGENTFLOW_POLICY_FILE": str(ROOT / "config" / "policy.json"),
        "AGENTFLOW_SIGNING_KEYS_FILE": str(ROOT / "config" / "signing-keys.dev.json"),
        "AGENTFLOW_SESSION_TIMEOUT_MS": "6000",
        "AGENTFLOW_TRANSACTION_TIMEOUT_MS": "10000",
    }
    log = data_dir / "worker.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        cmd = [
            sys.executable,
            "-m",
            "agentflow.cli.main",
            "worker",
            "--processor",
            "agentflow.cli.worker_cmd:gate_only",
        ]
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wait_for_records(
    bootstrap: str, topic: str, count: int, timeout: float = 60.0
) -> list[Message]:
    deadline = time.monotonic() + timeout
    while True:
        found = list(read_topic({"bootstrap.servers": bootstrap}, topic))
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_kcat_json_event_signed_with_openssl_is_admitted_by_the_gate(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    assert shutil.which("kcat"), "kcat is missing: `make sysdeps` (apt-get install kcat)"
    assert shutil.which("openssl"), "openssl is missing"
    ensure_topics({"bootstrap.servers": kafka_bootstrap}, catalog(), prefix=topic_prefix)
    topics = {role: topic_prefix + spec.name for role, spec in by_role(catalog()).items()}
    workflow_id = f"wf-kcat-{uuid.uuid4().hex[:6]}"
    event = {
        "event_id": f"evt-kcat-{uuid.uuid4().hex[:6]}",
        "event_type": "ticket.created",
        "schema_version": 1,
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source": "helpdesk",
        "tenant": "acme",
        "actor": {"id": "cust-9", "kind": "user"},
        "workflow_id": workflow_id,
        "payload": {
            "ticket_id": "T-9",
            "subject": "Where is my parcel?",
            "body": "Ordered a week ago.",
            "customer_id": "cust-9",
        },
    }
    value = json.dumps(event, separators=(",", ":")).encode()
    signed = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SECRET],
        input=workflow_id.encode() + b"\n" + value,
        capture_output=True,
        check=True,
    )
    signature = signed.stdout.decode().split()[-1]
    assert len(signature) == 64

    kcat = [
        *("kcat", "-P", "-b", kafka_bootstrap, "-t", topics["ingress"], "-k", workflow_id),
        *("-H", "content-type=application/json", "-H", "af-key-id=helpdesk-dev-1"),
        *("-H", f"af-signature={signature}", "-X", "partitioner=murmur2_random"),
    ]
    subprocess.run(
        kcat,
        input=value,
        check=True,
        timeout=60,
    )
    ingress = end_offsets({"bootstrap.servers": kafka_bootstrap}, topics["ingress"])
    home = partition_for(workflow_id.encode(), 4)
    assert ingress == {p: int(p == home) for p in range(4)}

    with gate_worker(kafka_bootstrap, topic_prefix, tmp_path / "worker") as worker:
        accepted = wait_for_records(kafka_bootstrap, topics["events"], 1)
        assert worker.poll() is None, (tmp_path / "worker" / "worker.log").read_text()
    assert len(accepted) == 1, (tmp_path / "worker" / "worker.log").read_text()
    msg = accepted[0]
    assert msg.key() == workflow_id.encode()
    assert msg.partition() == home
    admitted = decode(msg.value())
    assert admitted.event_id == event["event_id"]
    assert admitted.workflow_id == workflow_id
    assert end_offsets({"bootstrap.servers": kafka_bootstrap}, topics["quarantine"]) == {
        0: 0,
        1: 0,
        2: 0,
        3: 0,
    }
