"""All of agentflow's settings, by concern, and the one place they are read.

Every value comes from an ``AGENTFLOW_*`` environment variable, else from the ``.env``-style
file named by ``AGENTFLOW_SETTINGS_FILE``, else a default. :func:`load_settings` reads them
when called (never at import time); nothing else in agentflow reads the environment.

===================  ======================================================================
concern              model
===================  ======================================================================
Kafka client         :class:`streams.settings.KafkaSettings` (servers, SASL/TLS, options)
stream host          :class:`streams.settings.HostSettings` (worker id, data dir, pacing)
deployment           :class:`DeploymentSettings` (app id, topic prefix, partitions)
gate                 :class:`GateSettings` (the policy file)
signing keys         :class:`SigningSettings` (sources' secrets; the SDK needs only these)
app                  :class:`AppSettings` (the workflow registry, the tools)
models               :class:`ModelSettings` (the endpoint of model steps)
step runner          :class:`agents.settings.RunnerSettings` (concurrency bounds, stop grace)
local broker         :class:`BrokerSettings` (state and cache directories, port)
===================  ======================================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from agents.settings import RunnerSettings
from streams.settings import HostSettings, KafkaSettings, settings_config
from streams.tracing import TracingSettings

SETTINGS_FILE_VARIABLE = "AGENTFLOW_SETTINGS_FILE"
_TOPIC_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class DeploymentSettings(BaseSettings):
    """Names and sizes the topics: app id (consumer group, changelog names), prefix, counts."""

    model_config = settings_config()

    app_id: str = "agentflow"
    topic_prefix: str = ""
    partitions: int = Field(default=4, ge=1)
    #: None: as many replicas as the cluster has brokers, up to 3 (min.insync.replicas=2 at 3).
    replication_factor: int | None = Field(default=None, ge=1)

    @field_validator("topic_prefix", "app_id")
    @classmethod
    def _topic_safe(cls, v: str) -> str:
        if set(v) - _TOPIC_SAFE:
            raise ValueError(f"may use only letters, digits, '.', '_', '-': {v!r}")
        return v


class GateSettings(BaseSettings):
    """The validation gate's policy (JSON; see ``config/policy.json``)."""

    model_config = settings_config()

    policy_file: Path = Path("config/policy.json")


class SigningSettings(BaseSettings):
    """The sources' signing secrets, JSON ``{source: {key_id: secret}}``, inline or in a file."""

    model_config = settings_config()

    signing_keys_file: Path | None = None
    signing_keys: SecretStr | None = None

    @property
    def configured(self) -> bool:
        return self.signing_keys is not None or self.signing_keys_file is not None


class AppSettings(BaseSettings):
    """What runs: the workflow definitions (``module:function`` returning a
    ``DefinitionRegistry``) and the tools' implementations (``module:function`` taking the
    back-ends' base URLs, returning an ``agents.tools.ToolRegistry``)."""

    model_config = settings_config()

    workflows: str = "examples.workflows:example_registry"
    tools: str = "examples.tools:example_tools"
    #: Base URLs of the tools' back-ends by name, JSON: ``{"payments": "http://..."}``.
    tool_urls: dict[str, str] = Field(default_factory=dict)


class ModelSettings(BaseSettings):
    """Model steps: where ``openai:`` models are served (any OpenAI-compatible endpoint), and
    a model for every step instead of the one each declares."""

    model_config = settings_config()

    #: ``openai:<model>`` or ``function:<module>:<function>``; unset: each step's own.
    model: str | None = None
    model_base_url: str | None = None
    model_api_key: SecretStr | None = None
    model_timeout_s: float = Field(default=60.0, gt=0)
    anthropic_base_url: str | None = None
    anthropic_api_key: SecretStr | None = None


class EdgeSettings(BaseSettings):
    """``agentflow serve``: where it listens, its webhook sources, how long it waits for the
    broker's acknowledgement before it answers 503."""

    model_config = settings_config()

    serve_host: str = "127.0.0.1"
    serve_port: int = Field(default=8080, ge=0, le=65535)
    webhooks_file: Path | None = None
    ack_timeout_s: float = Field(default=5.0, gt=0)
    #: ``POST /v1/events`` requests a second per envelope source, and the burst above it.
    events_rate_per_s: float = Field(default=500.0, gt=0)
    events_burst: float = Field(default=1000.0, ge=1)
    #: The approval inbox's reviewer accounts (JSON, or a file); without them, no inbox.
    reviewers: str | None = None
    reviewers_file: Path | None = None
    #: Signs the inbox's session cookies; unset, a random one (sessions end with the process).
    session_secret: SecretStr | None = None


class BrokerSettings(BaseSettings):
    """Where ``agentflow broker`` keeps the local broker."""

    model_config = settings_config()

    state_dir: Path = Path(".state")
    cache_dir: Path | None = None
    broker_port: int = Field(default=9092, ge=1, le=65535)
    xdg_cache_home: Path | None = Field(default=None, validation_alias="XDG_CACHE_HOME")

    @property
    def cache_root(self) -> Path:
        """``AGENTFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/agentflow``, else
        ``~/.cache/agentflow``."""
        if self.cache_dir is not None:
            return self.cache_dir
        return (self.xdg_cache_home or Path.home() / ".cache") / "agentflow"


S = TypeVar("S", bound=BaseSettings)


@dataclass(frozen=True)
class Settings:
    """Every concern's settings, loaded together by :func:`load_settings`."""

    kafka: KafkaSettings
    host: HostSettings
    deployment: DeploymentSettings
    gate: GateSettings
    signing: SigningSettings
    app: AppSettings
    models: ModelSettings
    runner: RunnerSettings
    broker: BrokerSettings
    edge: EdgeSettings
    tracing: TracingSettings

    @classmethod
    def of(cls, **concerns: dict[str, Any]) -> Settings:
        """Settings built in code: ``Settings.of(kafka={"bootstrap_servers": ...})``; a concern
        not named is read from the environment like :func:`load_settings` reads it."""
        return load_settings().replace(**concerns)

    def replace(self, **changes: Any) -> Settings:
        """A copy with fields of concerns changed: ``replace(host={"worker_id": "w1"})``."""
        updated = {
            name: getattr(self, name).model_copy(update=fields) for name, fields in changes.items()
        }
        return Settings(**{**self.__dict__, **updated})


def load_settings() -> Settings:
    """Read every concern's settings now, from the environment and the settings file."""
    env_file = os.environ.get(SETTINGS_FILE_VARIABLE)

    def load(model: type[S]) -> S:
        return model(_env_file=env_file)

    return Settings(
        kafka=load(KafkaSettings),
        host=load(HostSettings),
        deployment=load(DeploymentSettings),
        gate=load(GateSettings),
        signing=load(SigningSettings),
        app=load(AppSettings),
        models=load(ModelSettings),
        runner=load(RunnerSettings),
        broker=load(BrokerSettings),
        edge=load(EdgeSettings),
        tracing=load(TracingSettings),
    )


def environment() -> Mapping[str, str]:
    """The process environment, for the few places that must pass it on (a child process)."""
    return os.environ
