"""Settings of the stream host, by concern: the Kafka client and the host itself.

Each model reads ``AGENTFLOW_*`` environment variables when it is constructed, then the
``.env``-style file passed as ``_env_file``, then its defaults; nothing is read at import time.
Secrets are ``SecretStr`` and never printed. The composition root (``agentflow.settings``)
loads these together with the deployment, gate and app settings.
"""

from __future__ import annotations

import socket
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "AGENTFLOW_"


def settings_config() -> SettingsConfigDict:
    """What every agentflow settings model shares: the prefix, UTF-8 files, no extras."""
    return SettingsConfigDict(env_prefix=ENV_PREFIX, env_file_encoding="utf-8", extra="ignore")


class ProcessingGuarantee(StrEnum):
    EXACTLY_ONCE = "exactly_once"
    AT_LEAST_ONCE = "at_least_once"


class KafkaSettings(BaseSettings):
    """How to reach Kafka: servers, security, and any other librdkafka option."""

    model_config = settings_config()

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    # Any other librdkafka option, as JSON: AGENTFLOW_KAFKA_OPTIONS='{"client.rack": "a"}'. They
    # override the worker's tuning (linger.ms, fetch.wait.max.ms...), but not the options its
    # guarantees rest on (streams.clients refuses those at start-up).
    kafka_options: dict[str, str] = Field(default_factory=dict)

    @property
    def uses_authentication(self) -> bool:
        """True if SASL or TLS is configured (a refused connection may then be a bad login)."""
        protocol = self.security_protocol or self.kafka_options.get("security.protocol") or ""
        return protocol.lower() not in ("", "plaintext")

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


class HostSettings(BaseSettings):
    """How one worker process runs: its id, state directory, guarantee and pacing."""

    model_config = settings_config()

    worker_id: str = Field(default_factory=socket.gethostname)
    data_dir: Path = Path(".state/data")
    processing_guarantee: ProcessingGuarantee = ProcessingGuarantee.EXACTLY_ONCE
    # When a checkpoint commits (streams.checkpoint): once the consumer has caught up, but not
    # within commit_min_gap_ms of the last; below full load, once the oldest uncommitted record
    # has waited commit_latency_ms (or commit_interval_ms if that is shorter); under full load
    # (full batches), every commit_interval_ms.
    commit_interval_ms: int = Field(default=100, ge=1)
    commit_latency_ms: int = Field(default=20, ge=1)
    commit_min_gap_ms: int = Field(default=10, ge=0)
    batch_size: int = Field(default=2000, ge=1)
    # A batch is also sized to take about this long, at the measured time per record
    # (streams.batching): timers fire and figures report between batches. 0: by count alone.
    batch_max_ms: int = Field(default=100, ge=0)
    transaction_timeout_ms: int = Field(default=15000, ge=1000)
    # Each of a checkpoint's two transactional calls (send offsets, commit) gets this long; a
    # checkpoint whose calls have not returned after both and 10 s more is wedged, and the
    # worker replaces its Kafka clients (streams.commit_thread).
    commit_call_timeout_ms: int = Field(default=30000, ge=1000)
    session_timeout_ms: int = Field(default=10000, ge=1000)
    stats_interval_s: float = Field(default=10.0, gt=0)
    # When set, the host writes its figures here as JSON at each stats interval and on stop.
    stats_file: Path | None = None
    # When set, Prometheus metrics are served at http://metrics_host:metrics_port/metrics.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # Decoded table values kept between checkpoints (streams.state_cache), an estimate of
    # the memory they take, shared out evenly over the input topic's partitions; 0 turns it off.
    state_cache_bytes: int = Field(default=64 << 20, ge=0)
    # RocksDB's block cache and memtables, shared by all the worker's stores (every table of
    # every partition); 0 leaves each store RocksDB's own defaults.
    rocksdb_memory_bytes: int = Field(default=64 << 20, ge=0)
    # Consecutive failed checkpoints after which the worker stops instead of retrying: a
    # failure that repeats (a topic deleted under it, say) is not going to heal by itself.
    max_failed_checkpoints: int = Field(default=5, ge=1)
    # Allocations between young collections of CPython's cycle collector; the process also
    # freezes its start-up heap (streams.collector). 0 keeps Python's defaults.
    gc_threshold: int = Field(default=10_000, ge=0)

    @model_validator(mode="after")
    def _transactions_outlive_commits(self) -> HostSettings:
        # A transaction still open at transaction.timeout.ms is aborted by the broker and its
        # producer fenced: commits must come well inside it.
        if self.commit_interval_ms * 2 > self.transaction_timeout_ms:
            raise ValueError(
                f"commit_interval_ms ({self.commit_interval_ms}) must be at most half of "
                f"transaction_timeout_ms ({self.transaction_timeout_ms})"
            )
        return self

    @property
    def commit_call_timeout_s(self) -> float:
        """``AGENTFLOW_COMMIT_CALL_TIMEOUT_MS`` in seconds: what a checkpoint gives each of its
        two transactional calls."""
        return self.commit_call_timeout_ms / 1000

    @property
    def exactly_once(self) -> bool:
        return self.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE
