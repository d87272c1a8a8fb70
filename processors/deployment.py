"""The deployment: where a set of processors' records live. Pure data, built once.

Processors name topics by *role* (``ingress``, ``quarantine``, ...). A :class:`Deployment` maps
each role to a topic, names the changelog topic of each table, and carries the one partition
count the input, output and changelog topics share (a workflow's records meet on the same
partition number everywhere). The composition root (``agentflow``) builds it from settings;
the stream host, the test driver, the CLI, the SDK and replay all resolve topics through it,
and processors see it as ``Context.deployment``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType


class UnknownRoleError(KeyError):
    """A role or table the deployment maps to no topic."""

    def __str__(self) -> str:
        return str(self.args[0])


def changelog_topic_name(topic_prefix: str, app_id: str, table: str) -> str:
    """The compacted changelog topic of ``table`` for the app ``app_id``."""
    return f"{topic_prefix}{app_id}.{table}.changelog"


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class Deployment:
    """Topics by role, changelog topics by table, and their partition count.

    ``topics`` and ``changelogs`` hold full topic names (the prefix included). Use
    :meth:`create` to apply a prefix to catalog names and derive the changelogs of tables.
    """

    app_id: str
    partitions: int
    topics: Mapping[str, str] = field(default_factory=dict)
    changelogs: Mapping[str, str] = field(default_factory=dict)
    topic_prefix: str = ""
    #: None: as many replicas as the cluster has brokers, up to three (see ``topics``).
    replication_factor: int | None = None

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"a deployment needs at least one partition, not {self.partitions}")
        object.__setattr__(self, "topics", _frozen(self.topics))
        object.__setattr__(self, "changelogs", _frozen(self.changelogs))

    @classmethod
    def create(
        cls,
        app_id: str,
        partitions: int,
        topic_names: Mapping[str, str],
        *,
        topic_prefix: str = "",
        replication_factor: int | None = None,
        tables: Iterable[str] = (),
    ) -> Deployment:
        """A deployment whose role topics are ``topic_names`` (role -> name) with the prefix,
        and whose ``tables`` have their changelog topics."""
        topics = {role: f"{topic_prefix}{name}" for role, name in topic_names.items()}
        base = cls(app_id, partitions, topics, {}, topic_prefix, replication_factor)
        return base.with_tables(tables)

    def topic(self, role: str) -> str:
        """The topic playing ``role``; :class:`UnknownRoleError` if none does."""
        found = self.topics.get(role)
        if found is None:
            known = ", ".join(sorted(self.topics)) or "none"
            raise UnknownRoleError(f"no topic is mapped to role '{role}' (mapped: {known})")
        return found

    def changelog(self, table: str) -> str:
        """The changelog topic of ``table``; :class:`UnknownRoleError` if it has none."""
        found = self.changelogs.get(table)
        if found is None:
            raise UnknownRoleError(f"table '{table}' has no changelog topic in this deployment")
        return found

    def with_topics(self, topics: Mapping[str, str]) -> Deployment:
        """A copy with these roles mapped to these exact topic names (no prefix added)."""
        return replace(self, topics={**self.topics, **topics})

    def with_tables(self, tables: Iterable[str]) -> Deployment:
        """A copy that also names the changelog topic of each of ``tables``."""
        derived = {
            t: changelog_topic_name(self.topic_prefix, self.app_id, t)
            for t in tables
            if t not in self.changelogs
        }
        return replace(self, changelogs={**self.changelogs, **derived}) if derived else self
