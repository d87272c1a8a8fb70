"""An isolated engine deployment on the real broker: the catalog topics under a test prefix
(and the app's changelogs), the settings to reach them, and ``agentflow worker`` processes
with no ``--processor`` and no ``--role`` (the gate fused with the orchestrator, on the
catalog topics of ``AGENTFLOW_TOPIC_PREFIX``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.trace import TracerProvider

from agentflow.composition import topology_deployment
from agentflow.sdk import EventProducer
from agentflow.settings import Settings
from processors.deployment import Deployment
from tests.integration.faust_apps._harness import delete_topics_with_prefix
from tests.integration.workers import SHIPPED_CONFIG, Worker, settings_for
from topics import catalog
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
        return self.deployment().changelog("workflows")

    @property
    def timers_changelog(self) -> str:
        return self.deployment().changelog("timers")

    @property
    def client_config(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap}

    def cli_env(self) -> dict[str, str]:
        """The settings a CLI command needs to run on this deployment."""
        return {
            "AGENTFLOW_BOOTSTRAP_SERVERS": self.bootstrap,
            "AGENTFLOW_TOPIC_PREFIX": self.prefix,
            "AGENTFLOW_APP_ID": self.app_id,
            "AGENTFLOW_PARTITIONS": str(self.partitions),
        }

    def deployment(self) -> Deployment:
        """The worker's deployment: the catalog topics and the orchestrator's changelogs."""
        return topology_deployment(self.settings())

    def create(self) -> None:
        ensure_topics(self.client_config, catalog(self.deployment()))

    def delete(self) -> None:
        delete_topics_with_prefix(self.bootstrap, self.prefix)

    def settings(self) -> Settings:
        return settings_for(
            self.bootstrap, self.prefix, app_id=self.app_id, partitions=self.partitions
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

    def step_runner(
        self,
        worker_id: str = "r1",
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> Worker:
        """``agentflow steps run`` on this deployment, started, with the shipped keys."""
        return Worker(
            self.bootstrap,
            self.prefix,
            self.app_id,
            data_dir or self.data_root / worker_id,
            worker_id,
            env={**SHIPPED_CONFIG, **self.env, **(env or {})},
            command=("steps", "run"),
            args=args,
        ).start()

    def producer(self, tracer_provider: TracerProvider | None = None) -> EventProducer:
        return EventProducer.from_settings(self.settings(), tracer_provider=tracer_provider)
