"""``agentflow quarantine list | show | release`` on what a real gate worker rejected."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from agentflow.composition import topology_deployment
from agentflow.sdk import EventProducer
from agentflow.sdk.reader import fetch_message, read_topic
from agentflow.testing import sample_events
from processors.events import TicketCreatedV1, decode
from processors.quarantine import read_quarantine
from tests.integration.workers import (
    SHIPPED_CONFIG,
    gate_worker,
    run_cli,
    settings_for,
)
from topics import catalog, ensure_topics

DAY_MS = 86_400_000


def env_for(bootstrap: str, prefix: str) -> dict[str, str]:
    return {
        "AGENTFLOW_BOOTSTRAP_SERVERS": bootstrap,
        "AGENTFLOW_TOPIC_PREFIX": prefix,
        **SHIPPED_CONFIG,
    }


def wait_for(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[Message]:
    """The committed records of ``topic`` once there are ``count`` (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found = list(read_topic({"bootstrap.servers": bootstrap}, topic))
        if len(found) >= count or time.monotonic() > deadline:
            return sorted(found, key=lambda m: (m.timestamp()[1], m.partition(), m.offset()))
        time.sleep(0.3)


def ticket(event_id: str, source: str = "helpdesk", age_ms: int = 0) -> TicketCreatedV1:
    data = sample_events()[0].model_dump()
    data.update(event_id=event_id, workflow_id=f"wf-{event_id}", source=source)
    data["occurred_at"] = int(time.time() * 1000) - age_ms
    return TicketCreatedV1.model_validate(data)


def test_quarantine_lists_shows_and_releases_what_the_gate_rejected(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix)
    deployment = topology_deployment(settings)
    ensure_topics({"bootstrap.servers": kafka_bootstrap}, catalog(deployment))
    topics = dict(deployment.topics)
    env = env_for(kafka_bootstrap, topic_prefix)

    def cli(*args: str) -> Any:
        done = run_cli(*args, env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if "--json" in args else done.stdout

    signer = EventProducer.from_settings(settings)
    forger = EventProducer(
        settings.kafka, topic=topics["ingress"], secret="not-the-secret", key_id="helpdesk-dev-1"
    )
    bad_sig = forger.prepare(ticket("bad-sig"))
    forger.send_record(bad_sig)
    forger.send(ticket("no-source", source="nobody"))
    signer.send(ticket("stale", age_ms=30 * DAY_MS))
    signer.send(ticket("good"))
    assert all(r.ok for r in forger.flush() + signer.flush())

    with gate_worker(kafka_bootstrap, topic_prefix, tmp_path / "worker") as worker:
        assert [decode(m.value()).event_id for m in wait_for(kafka_bootstrap, topics["events"], 1)]
        assert len(wait_for(kafka_bootstrap, topics["quarantine"], 3)) == 3

        listed = cli("quarantine", "list", "--json")
        assert sorted((q["reason"], q["event_id"]) for q in listed) == [
            ("signature_invalid", "bad-sig"),
            ("stale_event", "stale"),
            ("unknown_source", "no-source"),
        ]
        for q in listed:
            assert q["tenant"] == "acme"
            assert q["original_topic"] == topics["ingress"]
            assert q["quarantined_at"].endswith("Z") and q["detail"]
        only = cli("quarantine", "list", "--json", "--reason", "signature_invalid")
        assert [q["event_id"] for q in only] == ["bad-sig"]
        assert len(cli("quarantine", "list", "--json", "--tenant", "acme", "--limit", "2")) == 2
        assert cli("quarantine", "list", "--json", "--tenant", "globex") == []
        assert cli("quarantine", "list", "--json", "--since", "2999-01-01T00:00:00Z") == []

        where = f"{only[0]['partition']}:{only[0]['offset']}"
        shown = cli("quarantine", "show", where, "--json")
        assert shown["key_hex"] == b"wf-bad-sig".hex()
        assert shown["value_hex"] == bad_sig.value.hex()
        assert shown["value"]["event_id"] == "bad-sig"
        headers = {h["key"]: h["value"] for h in shown["headers"]}
        assert headers["af-signature"] == dict(bad_sig.headers)["af-signature"].decode()
        text = cli("quarantine", "show", where)
        assert bad_sig.value.hex() in text and "signature_invalid" in text

        fixed = tmp_path / "fixed.json"
        fixed.write_text(json.dumps(ticket("bad-sig").model_dump(mode="json")))
        released = cli("quarantine", "release", where, "--fixed", str(fixed), "--json")
        record = fetch_message(
            {"bootstrap.servers": kafka_bootstrap},
            topics["ingress"],
            released["partition"],
            released["offset"],
        )
        origin = f"{topics['quarantine']}:{where}".encode()
        assert dict(record.headers())["af-released-from"] == origin
        accepted = wait_for(kafka_bootstrap, topics["events"], 2)
        assert [decode(m.value()).event_id for m in accepted] == ["good", "bad-sig"]

        stale = next(q for q in listed if q["reason"] == "stale_event")
        again = cli("quarantine", "release", f"{stale['partition']}:{stale['offset']}", "--json")
        requeued = wait_for(kafka_bootstrap, topics["quarantine"], 4)
        assert worker.alive(), worker.log()
    resent = fetch_message(
        {"bootstrap.servers": kafka_bootstrap},
        topics["ingress"],
        again["partition"],
        again["offset"],
    )
    stale_record = next(
        m for m in requeued if (m.partition(), m.offset()) == (stale["partition"], stale["offset"])
    )
    kept = read_quarantine(stale_record.value())
    assert (resent.key(), resent.value()) == (kept["original_key"], kept["original_value"])
    assert resent.partition() == stale["original_partition"]
    assert resent.headers() == [
        *((h["key"], h["value"]) for h in kept["original_headers"]),
        (
            "af-released-from",
            f"{topics['quarantine']}:{stale['partition']}:{stale['offset']}".encode(),
        ),
    ]
    after = cli("quarantine", "list", "--json", "--reason", "stale_event")
    assert [q["original_offset"] for q in after] == [stale["original_offset"], again["offset"]]
    assert len(cli("quarantine", "list", "--json")) == 4


def test_quarantine_show_of_a_missing_position_fails_in_one_line(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    deployment = topology_deployment(settings_for(kafka_bootstrap, topic_prefix))
    ensure_topics({"bootstrap.servers": kafka_bootstrap}, catalog(deployment))
    env = env_for(kafka_bootstrap, topic_prefix)
    done = run_cli("quarantine", "show", "2:5", env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: no record at 2:5; partition 2 is empty; `agentflow quarantine list` shows "
        "the positions"
    ]
