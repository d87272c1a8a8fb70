"""The replay figure: ``agentflow replay``'s dry run over the pipeline bench's history.

After the agentflow pipeline contender (and its latency stage) ran, its workflow-events topic
holds every admitted event and its audit topic every decision. This replays that history
through the same orchestrator over a shadow state, diffs it against the audit topic, and
reports events per second end to end (reading, deciding, reading the audit, diffing) and how
many workflows replayed identically. Target: at least 1.5x the live pipeline's events/s, since
a replay has no transactions and produces nothing.
"""

from __future__ import annotations

import time
from typing import Any

from examples.workflows import example_registry
from processors.deployment import Deployment
from processors.engine import OrchestratorProcessor
from replay.session import Replay
from topics.catalog import catalog_names


def measure_replay(bootstrap: str, prefix: str, app_id: str, partitions: int) -> dict[str, Any]:
    """Replay the deployment's whole history once; its figures."""
    orchestrator = OrchestratorProcessor(example_registry())
    deployment = Deployment.create(app_id, partitions, catalog_names(), topic_prefix=prefix)
    cpu, started = time.process_time(), time.monotonic()
    result = Replay({"bootstrap.servers": bootstrap}, deployment, [orchestrator]).run()
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    return {
        "events": result.events_replayed,
        "seconds": round(wall, 2),
        "events_per_s": round(result.events_replayed / wall, 1) if wall else 0.0,
        "events_per_cpu_s": round(result.events_replayed / cpu, 1) if cpu else 0.0,
        "totals": result.diff.totals,
        "decisions": result.decisions_replayed,
    }
