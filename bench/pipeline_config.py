"""Settings of the whole-pipeline bench (:mod:`bench.pipeline`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PIPELINE_CONTENDERS = ("limit", "quix", "faust", "agentflow")


@dataclass(frozen=True)
class PipelineConfig:
    bootstrap: str
    workflows: int  # N
    events_per_workflow: int  # M
    faust_workflows: int
    partitions: int
    payload_bytes: int
    commit_interval_ms: int
    batch_size: int
    contenders: tuple[str, ...]
    tag: str
    latency_seconds: float
    latency_load: float  # offered rate as a fraction of agentflow's measured maximum
    scale_live: tuple[int, ...]
    scale_touched: int  # live workflows that get one measured cycle per stage
    keep_topics: bool = False
    host_kafka_options: dict[str, str] = field(default_factory=dict)
    latency_rate: float | None = None  # a fixed offered rate instead of latency_load
    worker_env: dict[str, str] = field(default_factory=dict)  # extra AGENTFLOW_* settings

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflows": self.workflows,
            "events_per_workflow": self.events_per_workflow,
            "events": self.workflows * self.events_per_workflow,
            "faust_workflows": self.faust_workflows,
            "faust_events": self.faust_workflows * self.events_per_workflow,
            "partitions": self.partitions,
            "payload_bytes_target": self.payload_bytes,
            "commit_interval_ms": self.commit_interval_ms,
            "batch_size": self.batch_size,
            "input_acks": "all",
            "input_partitioner": "murmur2_random",
            "input_compression": "none",
            "output_timestamps": "LogAppendTime",
            "host_kafka_options": self.host_kafka_options,
            "worker_env": self.worker_env,
        }
