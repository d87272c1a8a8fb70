"""The producer examples of docs/producers.md, built and run as a user would: Java
(kafka-clients + Apache Avro), Go (franz-go + hamba/avro) and Node (kafkajs + avsc). Each sends
JSON and Avro ticket.created events, signed, and reads the audit topic back decoding by
fingerprint. An example that cannot build fails; none is skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from agentflow.sdk import encode_value
from processors.events import KeyRing
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.plans import ticket_created
from tests.integration.enginekit.readers import final_states, read_topic
from tests.integration.workers import SIGNING_KEYS_FILE

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "producers"
COUNT = 50

pytestmark = pytest.mark.timeout(900)

#: language -> (build commands, run command), each run in examples/producers/<language>.
BUILDS: dict[str, tuple[list[list[str]], list[str]]] = {
    "java": (
        [["mvn", "-q", "-B", "-DskipTests", "package", "dependency:copy-dependencies",
          "-DoutputDirectory=target/lib"]],
        ["java", "-cp", "target/classes:target/lib/*", "agentflow.example.Producer"],
    ),
    "go": ([["go", "build", "-o", "producer", "."]], ["./producer"]),
    "node": ([["npm", "ci", "--no-audit", "--no-fund"]], ["node", "producer.js"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def deployment(
    kafka_bootstrap: str, run_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineDeployment]:
    prefix = f"{run_prefix}prod{uuid.uuid4().hex[:4]}."
    data = tmp_path_factory.mktemp("producers")
    dep = EngineDeployment.make(kafka_bootstrap, prefix, data, tag="prod")
    worker = dep.worker("w1")
    yield dep
    worker.stop()
    dep.delete()


@pytest.mark.parametrize("language", sorted(BUILDS))
def test_producer_example_reaches_exact_states_and_decodes_the_audit(
    deployment: EngineDeployment, language: str
) -> None:
    builds, run = BUILDS[language]
    workdir = EXAMPLES / language
    for tool in {build[0] for build in builds} | {run[0]} - {"./producer"}:
        assert shutil.which(tool), f"{tool} is missing: the {language} example needs it"
    for build in builds:
        done = subprocess.run(build, cwd=workdir, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{build}: {done.stdout}\n{done.stderr}"
    [(key_id, secret)] = json.loads(SIGNING_KEYS_FILE.read_text())["helpdesk"].items()
    run_id = f"{language}{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "BOOTSTRAP": deployment.bootstrap,
        "INGRESS_TOPIC": deployment.ingress,
        "AUDIT_TOPIC": deployment.audit,
        "SCHEMA_DIR": str(ROOT / "avro_schemas"),
        "KEY_ID": key_id,
        "SECRET": secret,
        "RUN_ID": run_id,
        "COUNT": str(COUNT),
    }
    done = subprocess.run(run, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"sent": COUNT, "decisions": {"applied": COUNT}}, done.stderr

    states = {
        wf: st for wf, st in final_states(deployment).items() if wf.startswith(f"wf-{run_id}-")
    }
    assert sorted(states) == sorted(f"wf-{run_id}-{i}" for i in range(COUNT))
    assert {st.status for st in states.values()} == {"classifying"}
    assert {st.last_event_id for st in states.values()} == {
        f"evt-{run_id}-{i}" for i in range(COUNT)
    }
    quarantined = read_topic(deployment.bootstrap, deployment.quarantine, deployment.partitions)
    assert [m for m in quarantined if (m.key or b"").startswith(f"wf-{run_id}".encode())] == []


def test_json_is_admitted_under_the_content_type_headers_frameworks_send(
    deployment: EngineDeployment,
) -> None:
    """HTTP's Content-Type, Spring Cloud Stream's contentType, and a charset parameter."""
    [(key_id, secret)] = json.loads(SIGNING_KEYS_FILE.read_text())["helpdesk"].items()
    keyring = KeyRing.from_mapping({"helpdesk": {key_id: secret}})
    run_id = uuid.uuid4().hex[:6]
    headers = {
        "http": ("Content-Type", b"application/json"),
        "spring": ("contentType", b"application/json"),
        "charset": ("content-type", b"application/json; charset=UTF-8"),
    }
    producer = Producer({"bootstrap.servers": deployment.bootstrap, "partitioner": "murmur2"})
    for name, header in headers.items():
        event = ticket_created(f"wf-ct-{run_id}-{name}", "acme", refund=False)
        value = encode_value(event, "json")
        producer.produce(
            deployment.ingress,
            value,
            event.key,
            headers=[header, *keyring.headers(key_id, event.key, value)],
        )
    assert producer.flush(30) == 0
    deadline = time.monotonic() + 60
    admitted: set[str] = set()
    while time.monotonic() < deadline and len(admitted) < len(headers):
        admitted = {wf for wf in final_states(deployment) if wf.startswith(f"wf-ct-{run_id}-")}
        time.sleep(0.5)
    assert admitted == {f"wf-ct-{run_id}-{name}" for name in headers}
