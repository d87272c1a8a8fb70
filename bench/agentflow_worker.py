"""An ``agentflow worker`` deployment of the bench: its topics, the worker subprocess, and
reading the audit records it writes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader

from bench.kafka import OUTPUT_TOPIC_CONFIG, peak_rss_mb, process_cpu_seconds
from bench.procs import WORKER_CMD, host_environ, start_process, stop_process
from bench.workload import worker_environ
from processors.deployment import Deployment
from processors.engine import OrchestratorProcessor
from processors.engine.records import AUDIT_RECORD
from processors.events import default_registry
from processors.schedules import SCHEDULES_TABLE
from topics import catalog, catalog_names
from topics.admin import ensure_topics
from workflows import DefinitionRegistry


# -- reading the worker's audit records ---------------------------------------------------
def _audit_schema() -> dict[str, Any]:
    entry = default_registry().record(AUDIT_RECORD)
    if entry is None:  # pragma: no cover - the schema ships with the package
        raise RuntimeError(f"no schema {AUDIT_RECORD}")
    return entry.wire_schema


_AUDIT_SCHEMA = _audit_schema()


def audit_datum(value: bytes) -> dict[str, Any]:
    """An audit record's fields (fastavro, no validation: the bench reads, it does not judge)."""
    body = io.BytesIO(value)
    body.seek(10)
    datum: Any = schemaless_reader(body, _AUDIT_SCHEMA, None)
    if not isinstance(datum, dict):  # pragma: no cover - a record reads as a dict
        raise ValueError("not an audit record")
    return datum


@dataclass
class AuditTally:
    """Counts decisions by kind, and per workflow, as a parser for :class:`OutputSummary`."""

    kinds: Counter[str] = field(default_factory=Counter)
    per_key: Counter[bytes] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def parse(self, key: bytes, value: bytes) -> int | None:
        try:
            datum = audit_datum(value)
        except Exception:
            return None
        self.kinds[datum["decision"]] += 1
        if datum["decision"] != "applied" and len(self.samples) < 3:
            self.samples.append(
                {k: datum[k] for k in ("event_id", "decision", "status_before", "rejection_reason")}
            )
        self.per_key[key] += 1
        return self.per_key[key]


# -- topics of an agentflow deployment ------------------------------------------------------
def agentflow_topics(bootstrap: str, prefix: str, app_id: str, partitions: int) -> dict[str, str]:
    """Create the catalog's topics under ``prefix`` (audit with LogAppendTime); role -> name."""
    # The default worker's tables: the orchestrator's and, if the workflows declare any, the
    # schedules'.
    tables = [t.name for t in OrchestratorProcessor(DefinitionRegistry()).tables]
    deployment = Deployment.create(
        app_id, partitions, catalog_names(), topic_prefix=prefix, tables=[*tables, SCHEDULES_TABLE]
    )
    specs = []
    for spec in catalog(deployment):
        if spec.role == "audit":
            spec = replace(spec, extra_config={**spec.extra_config, **OUTPUT_TOPIC_CONFIG})
        specs.append(spec)
    ensure_topics({"bootstrap.servers": bootstrap}, specs)
    names = dict(deployment.topics)
    names["workflows_changelog"] = deployment.changelog("workflows")
    return names


@dataclass
class Worker:
    """An ``agentflow worker`` subprocess (the default pipeline) of one bench deployment."""

    bootstrap: str
    prefix: str
    app_id: str
    data_dir: Path
    log_path: Path
    batch_size: int
    commit_interval_ms: int
    kafka_options: dict[str, str] = field(default_factory=dict)
    #: Further ``AGENTFLOW_*`` settings, applied last (the bench's ``--worker-env``).
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environ = {k: v for k, v in base_environ().items() if not k.startswith("AGENTFLOW_")}
        environ |= worker_environ()
        environ |= host_environ(
            self.bootstrap,
            app_id=self.app_id,
            prefix=self.prefix,
            data_dir=self.data_dir,
            batch_size=self.batch_size,
            commit_interval_ms=self.commit_interval_ms,
            kafka_options=self.kafka_options,
        )
        environ |= self.extra_env
        self.started = time.monotonic()
        self.proc = start_process(list(WORKER_CMD), environ, self.log_path)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float | None:
        return process_cpu_seconds(self.proc.pid) if self.proc else None

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.proc.pid) if self.proc else None

    def stats(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.data_dir / "stats.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def base_environ() -> dict[str, str]:
    return dict(os.environ)


def app_id_for(tag: str, kind: str) -> str:
    """A topic- and group-safe application id unique to this run."""
    stamp = "".join(c for c in tag if c.isalnum())
    return f"{kind}{stamp}"
