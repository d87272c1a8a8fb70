"""Reading workflow state for people and scripts (``agentflow workflow show | list``).

The committed state of a partition is its local store (when this machine's worker keeps one
under the data directory) plus whatever its changelog holds past the store's recorded offset.
With no local store, the whole changelog partition is read. Either way the answer is what the
worker has committed: the store is opened read-only, without its lock, and stores are written
only after their transaction commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer

from agentflow.composition import build_deployment
from agentflow.settings import Settings
from processors.engine import WorkflowState, WorkflowStateCodec, as_plain
from processors.engine.emits import WORKFLOWS
from processors.partitioning import partition_for
from streams import clients
from streams.recovery import read_changelog
from streams.tables import TableStore

_CODEC = WorkflowStateCodec()


@dataclass(frozen=True)
class PartitionRead:
    partition: int
    source: str  # "store+changelog" or "changelog"
    states: dict[bytes, WorkflowState]


class WorkflowReader:
    """Reads the ``workflows`` table of a deployment, partition by partition."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        deployment = build_deployment(settings).with_tables([WORKFLOWS])
        self.app_id = deployment.app_id
        self.topic = deployment.changelog(WORKFLOWS)
        self.partitions = clients.check_topics(settings.kafka, [self.topic])[self.topic]
        self._consumer = Consumer(
            clients.restore_consumer_config(settings.kafka, settings.host, self.app_id)
        )

    def close(self) -> None:
        self._consumer.close()

    def partition_of(self, workflow_id: str) -> int:
        return partition_for(workflow_id.encode(), self.partitions)

    def read_partition(self, partition: int, only: bytes | None = None) -> PartitionRead:
        raw: dict[bytes, bytes | None] = {}
        start = OFFSET_BEGINNING
        source = "changelog"
        store = self._local_store(partition)
        if store is not None:
            try:
                if only is not None:
                    raw[only] = store.get_raw(only)
                else:
                    raw.update(store.items_raw())
                if store.changelog_offset is not None:
                    start, source = store.changelog_offset + 1, "store+changelog"
                else:
                    raw.clear()
            finally:
                store.close()
        for chunk, _, _ in read_changelog(self._consumer, self.topic, partition, start):
            if only is None:
                raw.update(chunk)
            elif only in chunk:
                raw[only] = chunk[only]
        states = {k: _CODEC.decode(v) for k, v in raw.items() if v is not None}
        return PartitionRead(partition, source, states)

    def show(self, workflow_id: str) -> tuple[WorkflowState | None, PartitionRead]:
        key = workflow_id.encode()
        read = self.read_partition(self.partition_of(workflow_id), only=key)
        return read.states.get(key), read

    def all_states(self) -> Iterable[WorkflowState]:
        for partition in range(self.partitions):
            yield from self.read_partition(partition).states.values()

    def _local_store(self, partition: int) -> TableStore | None:
        path = Path(self.settings.host.data_dir) / self.app_id / WORKFLOWS / f"p{partition}"
        if not (path / "CURRENT").exists():
            return None
        try:
            return TableStore(path, WORKFLOWS, _CODEC, self.topic, read_only=True)
        except Exception:  # an unreadable store is no worse than none: use the changelog
            return None


def summary(state: WorkflowState) -> dict[str, Any]:
    """The fields ``workflow list`` prints."""
    return {
        "workflow_id": state.workflow_id,
        "definition": state.definition_name,
        "version": state.definition_version,
        "tenant": state.tenant,
        "status": state.status,
        "final_outcome": state.final_outcome,
        "updated_at": state.updated_at,
    }


def _document(raw: str) -> Any:
    """A step's result: the JSON document it returned (as text if it is not JSON)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def details(state: WorkflowState) -> dict[str, Any]:
    """Everything ``workflow show --json`` prints: the summary, state and the timeline."""
    return summary(state) | {
        "started_at": state.started_at,
        "completed_at": state.completed_at,
        "last_event_id": state.last_event_id,
        "completed_steps": state.completed_steps,
        "usage": as_plain(state.usage),
        "step_results": {step: _document(raw) for step, raw in state.step_results.items()},
        "pending_approvals": [as_plain(a) for a in state.pending_approvals],
        "step_calls": [
            {k: v for k, v in as_plain(c).items() if k != "input"} for c in state.step_calls
        ],
        "retries": state.retries,
        "timers": [as_plain(t) for t in state.timers],
        "held": [{"event_id": h.event_id, "event_type": h.event_type} for h in state.held],
        "errors": [as_plain(e) for e in state.errors],
        "history": [as_plain(h) for h in state.history],
    }
