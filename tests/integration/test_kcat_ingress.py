"""A non-Python upstream: a JSON event signed with ``openssl`` and produced with ``kcat`` is
admitted by the gate worker, as the README documents."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from confluent_kafka import Message

from agentflow.sdk.reader import end_offsets, read_topic
from processors.deployment import Deployment
from processors.events import decode
from processors.partitioning import partition_for
from tests.integration.workers import SIGNING_KEYS_FILE, gate_worker
from topics import catalog, catalog_names, ensure_topics

SECRET = json.loads(SIGNING_KEYS_FILE.read_text())["helpdesk"]["helpdesk-dev-1"]


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
    deployment = Deployment.create("agentflow", 4, catalog_names(), topic_prefix=topic_prefix)
    ensure_topics({"bootstrap.servers": kafka_bootstrap}, catalog(deployment))
    topics = dict(deployment.topics)
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
        assert worker.alive(), worker.log()
    assert len(accepted) == 1, worker.log()
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
