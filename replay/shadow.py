"""A shadow run: the live processors over a fresh state, fed records read from the log.

:class:`ShadowRun` opens one :class:`~streams.tables.PartitionState` per partition in a
directory of its own (a temporary one by default) and drives the same
:class:`~streams.runtime.PartitionTask` the stream host uses. Each record is decided at the time
its ``af-decided-at`` header recorded (the gate's admission time, or the punctuation's for an
event the engine made), else at its timestamp. The state is never committed, so it stays in
memory, decoded, up to :data:`KEEP_KEYS` keys per table and partition; past that the earliest
written go to RocksDB, encoded, in one batch (a replay re-reads a workflow's state for each of
its events: decoding and encoding it each time was most of a replay's cost). It never
punctuates: deadlines and hold expiries that fired live are ``timer.fired`` events in the log,
read and decided like any other. It produces nothing; the caller reads the emits it returns.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from processors.contract import Emit, Processor, Record
from processors.deployment import Deployment
from processors.events import decided_at
from streams.runtime import PartitionTask
from streams.tables import PartitionState, TableStore

#: Keys a partition's table keeps decoded in memory; past it, the earliest written half spill.
KEEP_KEYS = 20_000


class ShadowRun:
    """The processors over a shadow state; see the module docstring."""

    def __init__(
        self,
        processors: Sequence[Processor],
        deployment: Deployment,
        data_dir: Path | None = None,
    ) -> None:
        self.processors = list(processors)
        tables = {t.name: t for p in self.processors for t in p.tables}
        self.deployment = deployment.with_tables(tables)
        self._owned = data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="agentflow-replay-")) if data_dir is None \
            else data_dir  # fmt: skip
        self._tables = tables
        self._tasks: dict[int, PartitionTask] = {}

    def feed(self, record: Record) -> list[Emit]:
        """Decide ``record`` (on its partition's shadow state); what it would have emitted."""
        task = self._task(record.partition)
        now_ms = decided_at(record.headers) or record.timestamp_ms
        emits = task.process(record, now_ms)
        for table in self._tables:
            if task.state.pending_count(table) > KEEP_KEYS:
                task.state.spill(table, KEEP_KEYS // 2)
        return emits

    def state(self, partition: int) -> PartitionState:
        """The shadow state of ``partition`` (opened empty on first use)."""
        return self._task(partition).state

    def close(self) -> None:
        for task in self._tasks.values():
            task.state.close()
        self._tasks.clear()
        if self._owned:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _task(self, partition: int) -> PartitionTask:
        task = self._tasks.get(partition)
        if task is None:
            stores = {
                name: TableStore(
                    self.data_dir / name / f"p{partition}",
                    name,
                    spec.codec,
                    self.deployment.changelog(name),
                )
                for name, spec in self._tables.items()
            }
            state = PartitionState(partition, stores)
            task = PartitionTask(partition, self.processors, state, self.deployment)
            self._tasks[partition] = task
        return task

    def __enter__(self) -> ShadowRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
