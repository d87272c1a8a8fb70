"""The topic catalog: every topic agentflow uses, declared in one place.

Topics are named by *role*; processors emit to roles and the host maps roles to topic names.
The ingress, workflow-events, state-changelog and timer topics share one partition count and are
keyed by ``workflow_id``, so one workflow's records always meet on the same partition number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DAY_MS = 24 * 60 * 60 * 1000
FOREVER = -1


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its catalog name (without prefix), role and configuration."""

    name: str
    role: str
    partitions: int
    replication_factor: int
    cleanup_policy: str
    retention_ms: int
    key_schema: str
    value_schema: str
    description: str = ""
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        """The topic-level configs the catalog owns (and checks for drift)."""
        conf = {"cleanup.policy": self.cleanup_policy, **self.extra_config}
        if self.cleanup_policy == "delete":
            conf["retention.ms"] = str(self.retention_ms)
        return conf

    def as_dict(self, prefix: str = "") -> dict[str, object]:
        return {
            "name": prefix + self.name,
            "role": self.role,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "cleanup_policy": self.cleanup_policy,
            "retention_ms": self.retention_ms,
            "key_schema": self.key_schema,
            "value_schema": self.value_schema,
            "description": self.description,
            "config": self.config(),
        }


def changelog_topic(app_id: str, table: str) -> str:
    """The compacted changelog topic name of ``table`` for the host app ``app_id``."""
    return f"{app_id}.{table}.changelog"


def changelog_spec(
    app_id: str, table: str, partitions: int, replication_factor: int = 1
) -> TopicSpec:
    return TopicSpec(
        name=changelog_topic(app_id, table),
        role="changelog",
        partitions=partitions,
        replication_factor=replication_factor,
        cleanup_policy="compact",
        retention_ms=FOREVER,
        key_schema="table key (bytes)",
        value_schema=f"{table} value (table codec); null = delete",
        description=f"Compacted changelog of the '{table}' table; co-partitioned with its input.",
        extra_config={"min.compaction.lag.ms": "0", "segment.ms": str(DAY_MS)},
    )


def catalog(
    partitions: int | None = None,
    replication_factor: int | None = None,
    app_id: str = "agentflow",
) -> list[TopicSpec]:
    """The topics of an agentflow deployment.

    Partition count and replication factor come from the arguments, else from
    ``AGENTFLOW_PARTITIONS`` / ``AGENTFLOW_REPLICATION_FACTOR``, else 4 and 1.
    """
    p = partitions or int(os.environ.get("AGENTFLOW_PARTITIONS", "4"))
    rf = replication_factor or int(os.environ.get("AGENTFLOW_REPLICATION_FACTOR", "1"))
    envelope = "Avro envelope (single-object encoding), see avro_schemas/events"
    key = "workflow_id (UTF-8)"

    def topic(name: str, role: str, retention_ms: int, value: str, about: str) -> TopicSpec:
        return TopicSpec(name, role, p, rf, "delete", retention_ms, key, value, about)

    return [
        topic("agentflow.ingress", "ingress", 7 * DAY_MS,
              envelope + "; or JSON with content-type: application/json",
              "Events from upstream systems, before the validation gate."),
        topic("agentflow.workflow-events", "events", FOREVER, envelope,
              "Validated events: the ordered history of record that replay reads."),
        topic("agentflow.quarantine", "quarantine", 30 * DAY_MS,
              "avro_schemas/internal/quarantine_record.avsc",
              "Rejected records with their original key, bytes, headers and a reason code."),
        topic("agentflow.steps", "steps", 7 * DAY_MS, "avro_schemas/internal/step_command.avsc",
              "Commands for agent step workers."),
        topic("agentflow.outputs", "outputs", 7 * DAY_MS,
              envelope + " (approval.requested), or avro_schemas/internal/workflow_notice.avsc",
              "Agent output events for downstream consumers."),
        topic("agentflow.audit", "audit", FOREVER, "avro_schemas/internal/audit_record.avsc",
              "One record per orchestrator decision; replay diffs against it."),
        changelog_spec(app_id, "workflows", p, rf),
        changelog_spec(app_id, "timers", p, rf),
    ]  # fmt: skip


def by_role(specs: list[TopicSpec]) -> dict[str, TopicSpec]:
    return {s.role: s for s in specs if s.role != "changelog"}
