"""The producer SDK and ``agentflow produce`` against the real broker: partitions, signatures,
and invalid input refused before anything is sent."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from agentflow.composition import build_deployment
from agentflow.sdk import EventProducer, InvalidEventError, event_from_dict
from agentflow.sdk.reader import end_offsets, read_topic
from agentflow.settings import Settings
from agentflow.testing import sample_events
from processors.events import TicketCreatedV1, decode
from processors.partitioning import partition_for
from processors.roles import INGRESS_ROLE
from tests.integration import workers
from tests.integration.workers import settings_for
from topics import catalog, ensure_topics


def make_ticket(event_id: str, workflow_id: str) -> TicketCreatedV1:
    base = sample_events()[0].model_dump()
    base.update(event_id=event_id, workflow_id=workflow_id, source="helpdesk")
    base["occurred_at"] = int(time.time() * 1000)
    return TicketCreatedV1.model_validate(base)


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str) -> Settings:
    """Settings for this test's topics; only the ingress topic is created."""
    s = settings_for(kafka_bootstrap, topic_prefix)
    specs = [t for t in catalog(build_deployment(s)) if t.role == INGRESS_ROLE]
    ensure_topics(s.kafka.client_config(), specs)
    return s


def ingress(settings: Settings) -> str:
    return build_deployment(settings).topic(INGRESS_ROLE)


def test_sdk_puts_each_workflow_on_its_murmur2_partition_and_signs_every_record(
    settings: Settings,
) -> None:
    producer = EventProducer.from_settings(settings)
    assert producer.config["enable.idempotence"] is True
    assert producer.config["acks"] == "all"
    assert producer.config["partitioner"] == "murmur2_random"
    sent = [make_ticket(f"e-{i:03d}", f"wf-{i % 20:02d}") for i in range(100)]
    futures = [producer.send(event) for event in sent]
    reports = producer.flush()

    assert [r.event_id for r in reports] == [e.event_id for e in sent]
    assert all(f.result(1) == r for f, r in zip(futures, reports, strict=True))
    for event, report in zip(sent, reports, strict=True):
        assert report.error is None
        assert report.topic == ingress(settings)
        assert report.partition == partition_for(event.workflow_id.encode(), 4)
    assert sum(end_offsets(settings.kafka.client_config(), ingress(settings)).values()) == 100

    keyring = producer.signer.keyring
    by_id = {e.event_id: e for e in sent}
    seen: dict[str, list[int]] = {}
    for msg in read_topic(settings.kafka.client_config(), ingress(settings)):
        headers = dict(msg.headers())
        got = decode(msg.value())
        assert got == by_id[got.event_id]
        assert msg.key() == got.workflow_id.encode()
        assert msg.partition() == partition_for(msg.key(), 4)
        assert headers["content-type"] == b"application/avro"
        assert headers["af-key-id"] == b"helpdesk-dev-1"
        verdict = keyring.verify(
            "helpdesk", headers["af-key-id"], msg.key(), msg.value(), headers["af-signature"]
        )
        assert verdict is None
        seen.setdefault(got.workflow_id, []).append(int(got.event_id[2:]))
    assert len(seen) == 20
    assert all(ids == sorted(ids) and len(ids) == 5 for ids in seen.values())


def test_sdk_refuses_an_invalid_event_before_sending_anything(settings: Settings) -> None:
    producer = EventProducer.from_settings(settings)
    good = make_ticket("e-1", "wf-1")
    broken = TicketCreatedV1.model_construct(**{**dict(good), "tenant": ""})
    with pytest.raises(InvalidEventError, match="schema_invalid: tenant"):
        producer.send(broken)
    with pytest.raises(InvalidEventError, match="unknown_event_type"):
        producer.send(event_from_dict({**good.model_dump(), "event_type": "ticket.melted"}))
    with pytest.raises(InvalidEventError, match="no_signing_key"):
        producer.send(good.model_copy(update={"source": "nobody"}))
    assert producer.flush() == []
    assert end_offsets(settings.kafka.client_config(), ingress(settings)) == {
        0: 0,
        1: 0,
        2: 0,
        3: 0,
    }


def run_cli(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "AGENTFLOW_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "AGENTFLOW_TOPIC_PREFIX": settings.deployment.topic_prefix,
        **workers.SHIPPED_CONFIG,
    }
    return workers.run_cli(*args, env=env, stdin=stdin)


def events_file(tmp_path: Path, events: list[dict[str, Any]]) -> Path:
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    return path


def test_produce_sends_every_event_of_a_file_and_reports_where_it_landed(
    settings: Settings, tmp_path: Path
) -> None:
    events = [make_ticket(f"f-{i}", f"wf-f{i}").model_dump(mode="json") for i in range(5)]
    done = run_cli(settings, "produce", str(events_file(tmp_path, events)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 6 and lines[-1] == f"sent 5 events to {ingress(settings)}"
    assert lines[0].startswith(f"f-0  wf-f0  → {ingress(settings)}[")
    assert sum(end_offsets(settings.kafka.client_config(), ingress(settings)).values()) == 5

    jsonl = "\n".join(json.dumps(e | {"event_id": e["event_id"] + "b"}) for e in events)
    done = run_cli(settings, "produce", "--json", "--content-type", "json", "-", stdin=jsonl)
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [r["event_id"] for r in reports] == [f"f-{i}b" for i in range(5)]
    for i, r in enumerate(reports):
        assert r["workflow_id"] == f"wf-f{i}"
        assert r["partition"] == partition_for(f"wf-f{i}".encode(), 4)
        assert r["offset"] >= 1
    assert sum(end_offsets(settings.kafka.client_config(), ingress(settings)).values()) == 10


def test_produce_refuses_a_file_with_an_invalid_event_in_one_line_and_sends_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    events = [make_ticket(f"f-{i}", f"wf-f{i}").model_dump(mode="json") for i in range(5)]
    del events[2]["payload"]["subject"]
    done = run_cli(settings, "produce", str(events_file(tmp_path, events)))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "error: event at index 2: event 'f-2': missing_field: payload.subject: required field "
        "is missing. Nothing was sent; fix it and run again"
    ]
    assert end_offsets(settings.kafka.client_config(), ingress(settings)) == {
        0: 0,
        1: 0,
        2: 0,
        3: 0,
    }
