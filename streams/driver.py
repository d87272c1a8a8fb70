"""A test driver that runs processors without a broker, in the spirit of Kafka Streams'
``TopologyTestDriver``.

It uses real RocksDB stores in a directory you give it, a clock you move by hand, and the same
:class:`~streams.runtime.PartitionTask` the host runs between consume and produce. Like
``TopologyTestDriver`` it commits after every record: each piped record's table writes are
flushed to its stores before ``pipe`` returns.

    driver = TestDriver([CounterProcessor()], tmp_path, partitions=4)   # or deployment=...
    driver.pipe("input", b"k", b"v")
    assert driver.read("output") == [Emit("output", b"k", b"v|1")]
    assert driver.state("counts", b"k") == 1
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from processors.contract import Emit, Headers, Processor, Record
from processors.deployment import Deployment
from processors.partitioning import partition_for
from processors.roles import QUARANTINE_ROLE
from streams.errors import HostError
from streams.runtime import PartitionTask, TaskCounters
from streams.state_cache import StateCache
from streams.tables import PartitionState, TableStore

#: The driver keeps decoded states between checkpoints as the host does, so its tests cover
#: the cache's rules (a value read is the reader's; only committed values are kept).
_DRIVER_CACHE_BYTES = 16 << 20


class TestDriver:
    """Pipe records in, read emits by role, read state by key, advance time."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        processors: Sequence[Processor],
        data_dir: Path,
        partitions: int = 4,
        start_ms: int = 0,
        deployment: Deployment | None = None,
    ) -> None:
        """Without a ``deployment``, every role the processors read or write maps to a topic
        of its own name, with ``partitions`` partitions; with one, its partition count and
        topic names are used, as a host would use them."""
        self.processors = list(processors)
        tables = {t.name: t for p in self.processors for t in p.tables}
        if deployment is None:
            roles = {r for p in self.processors for r in (*p.input_roles, *p.output_roles)}
            names = {r: r for r in sorted(roles | {QUARANTINE_ROLE})}
            deployment = Deployment.create("test-driver", partitions, names)
        self.deployment = deployment.with_tables(tables)
        self.partitions = self.deployment.partitions
        self.now_ms = start_ms
        self.counters = TaskCounters()
        self._outputs: dict[str, list[Emit]] = defaultdict(list)
        self._offsets: dict[tuple[str, int], int] = defaultdict(int)
        self._logs: dict[str, list[Record]] = defaultdict(list)
        self._tasks: list[PartitionTask] = []
        for partition in range(self.partitions):
            stores = {
                name: TableStore(
                    Path(data_dir) / name / f"p{partition}",
                    name,
                    spec.codec,
                    self.deployment.changelog(name),
                )
                for name, spec in tables.items()
            }
            state = PartitionState(partition, stores, StateCache(_DRIVER_CACHE_BYTES))
            task = PartitionTask(
                partition, self.processors, state, self.deployment, counters=self.counters
            )
            self._tasks.append(task)

    def pipe(
        self,
        role: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers = (),
        timestamp_ms: int | None = None,
        partition: int | None = None,
    ) -> list[Emit]:
        """Process one record (partitioned by murmur2 of its key unless given); its emits."""
        if partition is None:
            partition = partition_for(key, self.partitions) if key is not None else 0
        offset = self._offsets[(role, partition)]
        self._offsets[(role, partition)] = offset + 1
        ts = self.now_ms if timestamp_ms is None else timestamp_ms
        record = Record(role, partition, offset, key, value, tuple(headers), ts)
        self._logs[role].append(record)
        task = self._tasks[partition]
        emits = task.process(record, self.now_ms)
        self._commit(task, emits)
        return emits

    def advance_time(self, ms: int) -> list[Emit]:
        """Move the clock forward and fire the punctuations that became due; their emits."""
        self.now_ms += ms
        emitted: list[Emit] = []
        for task in self._tasks:
            emits = task.punctuate(self.now_ms)
            self._commit(task, emits)
            emitted.extend(emits)
        return emitted

    def read(self, role: str) -> list[Emit]:
        """Everything emitted to ``role`` since the last read of it."""
        out = self._outputs.pop(role, [])
        return out

    def topic_log(self, role: str) -> list[Record]:
        """The topic of ``role`` as a broker would hold it: every record piped to it and every
        record emitted to it, in order, with their partitions and offsets (read by a replay)."""
        return list(self._logs.get(role, ()))

    def state(self, table: str, key: bytes, partition: int | None = None) -> Any | None:
        if partition is None:
            partition = partition_for(key, self.partitions)
        return self._tasks[partition].state.get(table, key)

    def partition_state(self, partition: int) -> PartitionState:
        return self._tasks[partition].state

    def close(self) -> None:
        for task in self._tasks:
            task.state.close()

    def _commit(self, task: PartitionTask, emits: list[Emit]) -> None:
        for emit in emits:
            if emit.role not in self.deployment.topics:  # the host would refuse it too
                raise HostError(
                    f"a processor emitted to role '{emit.role}', which is not among its "
                    f"output_roles {sorted(self.deployment.topics)}"
                )
            self._outputs[emit.role].append(emit)
            self._log_emit(emit)
        task.state.flush(task.state.freeze())

    def _log_emit(self, emit: Emit) -> None:
        partition = emit.partition
        if partition is None:
            partition = partition_for(emit.key, self.partitions) if emit.key is not None else 0
        offset = self._offsets[(emit.role, partition)]
        self._offsets[(emit.role, partition)] = offset + 1
        record = Record(emit.role, partition, offset, emit.key, emit.value, tuple(emit.headers),
                        self.now_ms)  # fmt: skip
        self._logs[emit.role].append(record)

    def __enter__(self) -> TestDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
