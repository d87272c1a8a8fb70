"""An isolated engine deployment on the real broker: the catalog topics under a test prefix
(and the app's changelogs), the settings to reach them, and ``agentflow worker`` processes
with no ``--processor`` and no ``--role`` (the gate fused with the orchestrator, on the
catalog topics of ``AGENTFLOW_TOPIC_PREFIX``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentflow.sdk import EventProducer
from streams.settings import Settings
from tests.integration.faust_apps._harness import delete_topics_with_prefix
from tests.integration.workers import POLICY_FILE, SHIPPED_CONFIG, SIGNING_KEYS_FILE, Worker
from topics import catalog, changelog_topic
from topics.admin import ensure_topics

PARTITIONS = 4


@dataclass
class EngineDeployment:
    """One isolated deployment: catalog topics under ``prefix``, changelogs of ``app_id``."""

    bootstrap: str
    prefix: str
    app_id: str
    data_root: Path
    partitions: int = PARTITIONS
    env: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def make(bootstrap: str, prefix: str, data_root: Path, tag: str = "eng") -> EngineDeployment:
        dep = EngineDeployment(bootstrap, prefix, f"{tag}{uuid.uuid4().hex[:6]}", data_root)
        dep.create()
        return dep

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def ingress(self) -> str:
        return self.topic("agentflow.ingress")

    @property
    def events(self) -> str:
        return self.topic("agentflow.workflow-events")

    @property
    def steps(self) -> str:
        return self.topic("agentflow.steps")

    @property
    def outputs(self) -> str:
        return self.topic("agentflow.outputs")

    @property
    def audit(self) -> str:
        return self.topic("agentflow.audit")

    @property
    def quarantine(self) -> str:
        return self.topic("agentflow.quarantine")

    @property
    def workflows_changelog(self) -> str:
        return self.topic(changelog_topic(self.app_id, "workflows"))

    @property
    def timers_changelog(self) -> str:
        return self.topic(changelog_topic(self.app_id, "timers"))

    @property
    def client_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap}

    def create(self) -> None:
        specs = catalog(partitions=self.partitions, replication_factor=1, app_id=self.app_id)
        ensure_topics(self.client_config, specs, prefix=self.prefix)

    def delete(self) -> None:
        delete_topics_with_prefix(self.bootstrap, self.prefix)

    def settings(self) -> Settings:
        return Settings(
            bootstrap_servers=self.bootstrap,
            topic_prefix=self.prefix,
            app_id=self.app_id,
            policy_file=POLICY_FILE,
            signing_keys_file=SIGNING_KEYS_FILE,
        )

    def worker(
        self,
        worker_id: str = "w1",
        data_dir: Path | None = None,
        processor: str = "",
        env: dict[str, str] | None = None,
    ) -> Worker:
        """A worker on this deployment, started: the default processors unless ``processor``
        is given; the shipped policy and keys unless :attr:`env` or ``env`` say otherwise
        (workflow definitions from ``AGENTFLOW_WORKFLOWS`` if they set it)."""
        return Worker(
            self.bootstrap,
            self.prefix,
            self.app_id,
            data_dir or self.data_root / worker_id,
            worker_id,
            processor,
            env={**SHIPPED_CONFIG, **self.env, **(env or {})},
        ).start()

    def producer(self) -> EventProducer:
        return EventProducer.from_settings(self.settings())
