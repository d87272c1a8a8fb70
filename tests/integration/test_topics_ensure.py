"""``agentflow topics list | ensure`` against the real broker, under a unique topic prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from tests.integration.faust_apps._harness import delete_topics_with_prefix, run_agentflow

pytestmark = pytest.mark.timeout(120)

CATALOG = {
    "agentflow.ingress": "ingress",
    "agentflow.workflow-events": "events",
    "agentflow.quarantine": "quarantine",
    "agentflow.steps": "steps",
    "agentflow.outputs": "outputs",
    "agentflow.audit": "audit",
    "agentflow.tenant-usage": "usage",  # what model steps spent, for tenants' daily budgets
    "agentflow.workflows.changelog": "changelog",
    "agentflow.timers.changelog": "changelog",
    "agentflow.approvals.changelog": "changelog",  # the approval inbox's read model
    "agentflow.step_ledger.changelog": "changelog",  # the step runner's ledger
    "agentflow.schedules.changelog": "changelog",  # the scheduler's last ticks
}
ROLES = {"ingress", "events", "quarantine", "steps", "outputs", "audit", "usage", "changelog"}


@pytest.fixture
def env(topic_prefix: str, kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    yield {
        "AGENTFLOW_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AGENTFLOW_TOPIC_PREFIX": topic_prefix,
        "AGENTFLOW_APP_ID": "agentflow",
        "AGENTFLOW_PARTITIONS": "4",
        "AGENTFLOW_REPLICATION_FACTOR": "1",
    }
    delete_topics_with_prefix(kafka_bootstrap, topic_prefix)


def _topic_config(admin: AdminClient, topic: str) -> dict[str, str]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource], request_timeout=30)[resource].result()
    return {key: entry.value for key, entry in entries.items()}


def test_should_list_every_catalog_topic_under_the_prefix_with_a_known_role(
    env: dict[str, str], topic_prefix: str
) -> None:
    listed = run_agentflow("topics", "list", "--json", env=env)

    assert [(t["name"], t["role"]) for t in listed] == [
        (topic_prefix + name, role) for name, role in CATALOG.items()
    ]
    assert {t["role"] for t in listed} == ROLES
    for t in listed:
        assert t["partitions"] == 4
        assert t["replication_factor"] == 1  # as AGENTFLOW_REPLICATION_FACTOR says


def test_should_create_catalog_topics_once_and_report_them_unchanged_after(
    env: dict[str, str], topic_prefix: str, kafka_bootstrap: str
) -> None:
    names = [t["name"] for t in run_agentflow("topics", "list", "--json", env=env)]
    assert names == [topic_prefix + n for n in CATALOG]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert not set(names) & set(admin.list_topics(timeout=10).topics)

    first = run_agentflow("topics", "ensure", "--json", env=env)
    assert sorted(first["created"]) == sorted(names)
    assert first["unchanged"] == []
    assert first["drift"] == []

    second = run_agentflow("topics", "ensure", "--json", env=env)
    assert second == {"created": [], "unchanged": names, "drift": []}

    metadata = admin.list_topics(timeout=10).topics
    for name in names:
        assert len(metadata[name].partitions) == 4
    changelog = _topic_config(admin, topic_prefix + "agentflow.workflows.changelog")
    assert changelog["cleanup.policy"] == "compact"
    assert changelog["min.compaction.lag.ms"] == "0"
    assert changelog["segment.ms"] == "86400000"
    events = _topic_config(admin, topic_prefix + "agentflow.workflow-events")
    assert events["cleanup.policy"] == "delete"
    assert events["retention.ms"] == "-1"
    assert _topic_config(admin, topic_prefix + "agentflow.ingress")["retention.ms"] == "604800000"


def test_should_report_drift_for_exactly_the_altered_topic_and_key_without_fixing_it(
    env: dict[str, str], topic_prefix: str, kafka_bootstrap: str
) -> None:
    names = [topic_prefix + n for n in CATALOG]
    assert sorted(run_agentflow("topics", "ensure", "--json", env=env)["created"]) == sorted(names)
    outputs = topic_prefix + "agentflow.outputs"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(
        ResourceType.TOPIC,
        outputs,
        incremental_configs=[
            ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin.incremental_alter_configs([resource])[resource].result()

    report = run_agentflow("topics", "ensure", "--json", env=env)

    assert report == {
        "created": [],
        "unchanged": [n for n in names if n != outputs],
        "drift": [
            {
                "topic": outputs,
                "differences": {"retention.ms": {"want": "604800000", "have": "3600000"}},
            }
        ],
    }
    # ensure only reports: the broker keeps the operator's value.
    assert _topic_config(admin, outputs)["retention.ms"] == "3600000"
