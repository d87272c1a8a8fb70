"""Settings for the stream host, from ``AGENTFLOW_*`` environment variables and an optional file.

Precedence: explicit arguments, then the environment, then ``AGENTFLOW_SETTINGS_FILE`` (a
``.env``-style file), then defaults. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import socket
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProcessingGuarantee(StrEnum):
    EXACTLY_ONCE = "exactly_once"
    AT_LEAST_ONCE = "at_least_once"


class Settings(BaseSettings):
    """Everything a host needs to reach Kafka and keep its state."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTFLOW_",
        env_file=os.environ.get("AGENTFLOW_SETTINGS_FILE"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    app_id: str = "agentflow"
    worker_id: str = Field(default_factory=socket.gethostname)
    data_dir: Path = Path(".state/data")
    processing_guarantee: ProcessingGuarantee = ProcessingGuarantee.EXACTLY_ONCE
    commit_interval_ms: int = Field(default=100, ge=1)
    batch_size: int = Field(default=2000, ge=1)
    transaction_timeout_ms: int = Field(default=15000, ge=1000)
    session_timeout_ms: int = Field(default=10000, ge=1000)
    stats_interval_s: float = Field(default=10.0, gt=0)
    # When set, the host writes its figures here as JSON at each stats interval and on stop.
    stats_file: Path | None = None
    # Client security options passed through to librdkafka (e.g. security.protocol).
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    # The gate: its policy (JSON) and the sources' signing secrets, as JSON
    # {source: {key_id: secret}} in a file or in AGENTFLOW_SIGNING_KEYS.
    policy_file: Path = Path("config/policy.json")
    signing_keys_file: Path | None = None
    signing_keys: SecretStr | None = None
    # The workflow definitions the orchestrator runs: a module:function returning a
    # DefinitionRegistry.
    workflows: str = "examples.workflows:example_registry"
    # Any other librdkafka option, as JSON: AGENTFLOW_KAFKA_OPTIONS='{"client.rack": "a"}'.
    kafka_options: dict[str, str] = Field(default_factory=dict)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, v: str) -> str:
        bad = set(v) - set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if bad:
            raise ValueError(f"topic prefix may use only letters, digits, '.', '_', '-': {v!r}")
        return v

    @model_validator(mode="after")
    def _transactions_outlive_commits(self) -> Settings:
        # A transaction still open at transaction.timeout.ms is aborted by the broker and its
        # producer fenced: commits must come well inside it.
        if self.commit_interval_ms * 2 > self.transaction_timeout_ms:
            raise ValueError(
                f"commit_interval_ms ({self.commit_interval_ms}) must be at most half of "
                f"transaction_timeout_ms ({self.transaction_timeout_ms})"
            )
        return self

    def topic(self, name: str) -> str:
        """The full topic name for a catalog name, with this run's prefix."""
        return f"{self.topic_prefix}{name}"

    def client_config(self) -> dict[str, Any]:
        """librdkafka options common to every client: servers and security."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        plain = {
            "security.protocol": self.security_protocol,
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
        }
        conf.update({k: v for k, v in plain.items() if v is not None})
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_key_password is not None:
            conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        conf.update(self.kafka_options)
        return conf
