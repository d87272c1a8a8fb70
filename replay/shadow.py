"""A shadow run: the live processors over a fresh state, fed records read from the log.

:class:`ShadowRun` opens one :class:`~streams.tables.PartitionState` per partition in a
directory of its own (a temporary one by default) and drives the same
:class:`~streams.runtime.PartitionTask` the stream host uses. Each record is decided at the time
its ``af-decided-at`` header recorded (the gate's admission time, or the punctuation's for an
event the engine made), else at its timestamp. The state goes to RocksDB in batches, as the
host's does at a commit; reads see the writes not yet flushed. It never punctuates: deadlines
and hold expiries that fired live are ``timer.fired`` events in the log, read and decided like
any other. It produces nothing; the caller reads the emits it returns.
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

#: Records a partition's shadow state takes before its writes go to RocksDB in one batch.
FLUSH_EVERY = 500


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
        self._unflushed: dict[int, int] = {}

    def feed(self, record: Record) -> list[Emit]:
        """Decide ``record`` (on its partition's shadow state); what it would have emitted."""
        task = self._task(record.partition)
        now_ms = decided_at(record.headers) or record.timestamp_ms
        emits = task.process(record, now_ms)
        # Reads see the unflushed writes, so writing to RocksDB in batches changes nothing
        # but the cost (a write batch per record was a third of a replay's time).
        self._unflushed[record.partition] = self._unflushed.get(record.partition, 0) + 1
        if self._unflushed[record.partition] >= FLUSH_EVERY:
            self._flush(task)
        return emits

    def _flush(self, task: PartitionTask) -> None:
        task.state.flush(task.state.encoded_changes())
        self._unflushed[task.partition] = 0

    def state(self, partition: int) -> PartitionState:
        """The shadow state of ``partition`` (opened empty on first use)."""
        return self._task(partition).state

    def close(self) -> None:
        for task in self._tasks.values():
            self._flush(task)
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
