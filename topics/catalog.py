"""The topic catalog: every topic agentflow uses, declared in one place.

Topics are named by *role*; processors emit to roles and the deployment
(:class:`~processors.deployment.Deployment`) maps roles to topic names. The catalog topics and
the changelogs share one partition count and are keyed by ``workflow_id`` (except ``usage``,
keyed by tenant and read whole by every step runner), so one workflow's records always meet
on the same partition number. Changelog topics are not listed here: they
are derived from the tables the processors declare (``TableSpec``), through the deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.deployment import Deployment

DAY_MS = 24 * 60 * 60 * 1000
FOREVER = -1
_ENVELOPE = "Avro envelope (single-object encoding), see avro_schemas/events"
_WORKFLOW_KEY = "workflow_id (UTF-8)"


@dataclass(frozen=True)
class CatalogEntry:
    """A catalog topic before a deployment names and sizes it."""

    role: str
    name: str
    retention_ms: int
    value_schema: str
    description: str
    key_schema: str = _WORKFLOW_KEY


#: The catalog topics, by role: their names without a prefix, retention and contents.
CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry("ingress", "agentflow.ingress", 7 * DAY_MS,
                 _ENVELOPE + "; or JSON with content-type: application/json",
                 "Events from upstream systems, before the validation gate."),
    CatalogEntry("events", "agentflow.workflow-events", FOREVER, _ENVELOPE,
                 "Validated events: the ordered history of record that replay reads."),
    CatalogEntry("quarantine", "agentflow.quarantine", 30 * DAY_MS,
                 "avro_schemas/internal/quarantine_record.v2.avsc",
                 "Rejected records with their original key, bytes, headers and a reason code."),
    CatalogEntry("steps", "agentflow.steps", 7 * DAY_MS,
                 "avro_schemas/internal/step_command.avsc", "Commands for agent step workers."),
    CatalogEntry("outputs", "agentflow.outputs", 7 * DAY_MS,
                 _ENVELOPE + " (approval.requested; the agent outputs reply.drafted, "
                 "refund.recommended, postmortem.drafted), or "
                 "avro_schemas/internal/workflow_notice.avsc",
                 "Agent output events for downstream consumers."),
    CatalogEntry("audit", "agentflow.audit", FOREVER, "avro_schemas/internal/audit_record.v2.avsc",
                 "One record per orchestrator decision; replay diffs against it."),
    CatalogEntry("usage", "agentflow.tenant-usage", 2 * DAY_MS,
                 "avro_schemas/internal/tenant_usage.avsc",
                 "What each model step spent, keyed by tenant: the step runners' daily budgets.",
                 key_schema="tenant (UTF-8)"),
)  # fmt: skip


def catalog_names() -> dict[str, str]:
    """Role -> catalog topic name (without prefix): what a deployment maps by default."""
    return {entry.role: entry.name for entry in CATALOG}


@dataclass(frozen=True)
class TopicSpec:
    """One topic of a deployment: its full name, role and configuration."""

    name: str
    role: str
    partitions: int
    #: None: decided when the topic is created (:func:`topics.admin.replication_for`).
    replication_factor: int | None
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

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
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


def changelog_spec(deployment: Deployment, table: str) -> TopicSpec:
    """The compacted changelog topic of ``table``, co-partitioned with its input."""
    return TopicSpec(
        name=deployment.changelog(table),
        role="changelog",
        partitions=deployment.partitions,
        replication_factor=deployment.replication_factor,
        cleanup_policy="compact",
        retention_ms=FOREVER,
        key_schema="table key (bytes)",
        value_schema=f"{table} value (table codec); null = delete",
        description=f"Compacted changelog of the '{table}' table; co-partitioned with its input.",
        extra_config={"min.compaction.lag.ms": "0", "segment.ms": str(DAY_MS)},
    )


def catalog(deployment: Deployment) -> list[TopicSpec]:
    """The topics of ``deployment``: each catalog role it maps, then each table's changelog.

    Roles outside the catalog (a custom processor's ``input``, say) are the user's topics:
    listed with default settings, so ``topics ensure`` can create them too.
    """
    entries = {entry.role: entry for entry in CATALOG}
    specs: list[TopicSpec] = []
    for role, name in deployment.topics.items():
        entry = entries.get(role)
        retention = entry.retention_ms if entry else 7 * DAY_MS
        specs.append(
            TopicSpec(
                name,
                role,
                deployment.partitions,
                deployment.replication_factor,
                "delete",
                retention,
                entry.key_schema if entry else "bytes",
                entry.value_schema if entry else "bytes",
                entry.description if entry else f"The '{role}' topic of a custom processor.",
            )
        )
    specs += [changelog_spec(deployment, table) for table in deployment.changelogs]
    return specs
