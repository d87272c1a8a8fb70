"""The step runner (``agentflow steps run``): step commands in, signed results out, exactly once.

It consumes the steps topic with confluent-kafka and runs steps on asyncio, many at a time:

- **Order and concurrency** (:class:`~agents.inflight.WorkQueue`): one step in flight per
  workflow, in arrival order; across workflows up to ``max_in_flight`` at once, and up to
  ``max_per_tenant`` for any one tenant.
- **Offsets** (:class:`~agents.inflight.PartitionOffsets`): committed up to the lowest
  unfinished command; commands finished past it get a done marker in the ledger table, so a
  redelivery after a crash does not run them again.
- **Flow control**: past ``max_buffered`` waiting commands the runner pauses its partitions
  and keeps polling (the group never sees it stall); it resumes at half.
- **Transactions**: the results (``step.completed`` / ``step.failed`` on ingress, signed as
  ``agentflow-steps``), the ledger's writes (changelog) and the consumed offsets commit in one
  Kafka transaction through the host's :class:`~streams.checkpoint.Checkpoint`, every
  ``commit_interval_ms``, or at once when a step waits for its ledger intent to be durable
  before a side effect.
- **Stop**: SIGTERM stops taking commands; steps in flight get ``grace_s`` to finish, the rest
  are cancelled and left for redelivery.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as TP

from agents.executor import StepExecutor, StepOutcome
from agents.inflight import PartitionOffsets, Pending, WorkQueue
from agents.partition_ledger import PartitionLedger
from agents.settings import RunnerSettings
from processors.contract import Context, Delete, Put, Record
from processors.deployment import Deployment
from processors.engine.records import StepCommand, decode_step_command
from processors.events import CONTENT_TYPE_AVRO, HEADER_CONTENT_TYPE, KeyRing, encode
from processors.events.errors import EventDecodeError
from processors.quarantine import quarantine_emit
from processors.reasons import UNDECODABLE
from processors.roles import QUARANTINE_ROLE
from processors.steps import LEDGER, LEDGER_TABLE, done_key
from streams import clients
from streams.checkpoint import Checkpoint
from streams.committer import ExactlyOnceCommitter
from streams.errors import HostError, StartupError
from streams.observer import HostObserver, NullObserver
from streams.produce import produce
from streams.recovery import Restorer, open_partition_state
from streams.settings import HostSettings, KafkaSettings
from streams.tables import PartitionState

log = logging.getLogger("agentflow.steps")
STEPS_ROLE = "steps"
INGRESS_ROLE = "ingress"


@dataclass
class RunnerFigures:
    """What the runner has done since it started (``agentflow steps run --json`` prints it)."""

    received: int = 0
    completed: int = 0
    failed: int = 0
    skipped_done: int = 0
    quarantined: int = 0
    commits: int = 0
    aborts: int = 0
    pauses: int = 0
    max_buffered_seen: int = 0
    #: The process's peak resident memory, in MiB (filled in when the runner stops).
    peak_rss_mib: int = 0


class StepRunner:
    """Runs the step commands of ``deployment``'s steps topic with ``executor``."""

    def __init__(
        self,
        kafka: KafkaSettings,
        host: HostSettings,
        settings: RunnerSettings,
        deployment: Deployment,
        executor: StepExecutor,
        keyring: KeyRing,
        key_id: str,
        observer: HostObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not host.exactly_once:
            raise StartupError("the step runner needs transactions (exactly_once)")
        self.kafka, self.host, self.settings = kafka, host, settings
        self.deployment = deployment.with_tables([LEDGER_TABLE])
        self.app_id = f"{deployment.app_id}-steps"
        self.executor = executor
        self.keyring, self.key_id = keyring, key_id
        self.observer: HostObserver = observer or NullObserver()
        self.figures = RunnerFigures()
        self._clock = clock
        self.steps_topic = self.deployment.topic(STEPS_ROLE)
        self.ingress_topic = self.deployment.topic(INGRESS_ROLE)
        self.quarantine_topic = self.deployment.topic(QUARANTINE_ROLE)
        self.queue: WorkQueue[StepCommand] = WorkQueue(
            settings.steps_max_in_flight, settings.steps_max_per_tenant
        )
        self._states: dict[int, PartitionState] = {}
        self._offsets: dict[int, PartitionOffsets] = {}
        self._marked: dict[int, dict[int, str]] = {}  # done markers written, by offset
        self._committed: dict[int, int] = {}
        self._epochs: dict[int, int] = {}  # partition -> the epoch its work belongs to
        self._epoch_counter = 0
        self._tasks: dict[asyncio.Task[None], Pending[StepCommand]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._txn_open = False
        self._txn_started = 0.0
        self._paused = False
        self._stopping = False
        self._last_report = time.monotonic()

    # -- lifecycle ----------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        """Stop taking commands; in-flight steps get the grace period to finish."""
        self._stopping = True

    def run(self) -> RunnerFigures:
        """Run until :meth:`request_stop`; what was done."""
        return asyncio.run(self._main())

    async def _main(self) -> RunnerFigures:
        self._start()
        # A model step allocates thousands of short-lived objects (messages, schemas, HTTP
        # parts); with the default thresholds the cyclic collector runs every 700 of them and
        # re-scans the start-up objects in its older generations. Those are frozen out of its
        # sight, and the young generation is collected less often. The older generations keep
        # their default pace: slowed too, cyclic garbage piled up to 500 MiB under a flood.
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        try:
            while not self._stopping:
                await self._cycle()
            await self._drain()
        finally:
            self._shutdown()
            # ru_maxrss is in KiB on Linux.
            self.figures.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return self.figures

    def _start(self) -> None:
        changelog = self.deployment.changelog(LEDGER_TABLE)
        topics = [self.steps_topic, changelog, self.ingress_topic, self.quarantine_topic]
        counts = clients.check_topics(self.kafka, topics)
        if counts[self.steps_topic] != counts[changelog]:
            raise StartupError(
                f"{self.steps_topic} and {changelog} must have one partition count, found "
                f"{counts[self.steps_topic]} and {counts[changelog]}"
            )
        self.deployment = replace(self.deployment, partitions=counts[self.steps_topic])
        kafka, host = self.kafka, self.host
        consumer_config = clients.consumer_config(kafka, host, self.app_id)
        self._consumer = Consumer(consumer_config)
        producer_config = clients.producer_config(kafka, host, self.app_id)
        committer = ExactlyOnceCommitter(producer_config, self._consumer, kafka.bootstrap_servers)
        self._checkpoint = Checkpoint(committer)
        self._restorer = Restorer(clients.restore_consumer_config(kafka, host, self.app_id))
        self._consumer.subscribe(
            [self.steps_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("step runner started on %s (group %s)", self.steps_topic, self.app_id)

    async def _drain(self) -> None:
        """Finish in-flight steps within the grace period; cancel the rest, commit."""
        assigned = self._assignment()
        if assigned:
            self._consumer.pause(assigned)
        deadline = time.monotonic() + self.settings.steps_grace_s
        while self._tasks and time.monotonic() < deadline:
            self._consumer.poll(0)  # keeps the group session alive; partitions are paused
            self._commit_if_due()
            await asyncio.sleep(0.01)
        left = list(self._tasks)
        for task in left:
            task.cancel()
        if left:
            log.info("stopping: %d steps did not finish in %.0fs; left for redelivery",
                     len(left), self.settings.steps_grace_s)  # fmt: skip
            await asyncio.gather(*left, return_exceptions=True)
        if self._txn_open:
            self._commit()

    def _shutdown(self) -> None:
        try:
            self._consumer.close()
        finally:
            for state in self._states.values():
                state.close()
            self._states.clear()
            self._restorer.close()
            self._checkpoint.committer.producer.flush(10)
            self.observer.on_stop()

    # -- the loop -----------------------------------------------------------------------
    async def _cycle(self) -> None:
        msgs = self._poll()
        now_ms = int(self._clock() * 1000)
        for msg in msgs:
            self._accept(msg, now_ms)
        for pending in self.queue.ready():
            epoch = self._epochs[pending.partition]
            task = asyncio.create_task(self._execute(pending, epoch))
            self._tasks[task] = pending
        self._flow_control()
        self._commit_if_due()
        if time.monotonic() - self._last_report >= self.host.stats_interval_s:
            self._report()
        # Let the steps run: a short sleep when idle, a bare yield when records are flowing.
        await asyncio.sleep(0 if msgs else 0.002)

    def _poll(self) -> list[Any]:
        if self._tasks or self._txn_open:
            msgs: list[Any] = self._consumer.consume(self.host.batch_size, timeout=0)
            return msgs
        first = self._consumer.poll(0.05)  # nothing to do but wait for a command
        if first is None:
            return []
        return [first, *self._consumer.consume(self.host.batch_size - 1, timeout=0)]

    def _accept(self, msg: Any, now_ms: int) -> None:
        err = msg.error()
        if err is not None:
            if err.fatal():
                raise HostError(f"consumer failed: {err.str()}")
            log.warning("consumer: %s", err.str())
            return
        partition, offset = msg.partition(), msg.offset()
        state = self._states.get(partition)
        if state is None:  # revoked since it was fetched
            return
        self.figures.received += 1
        offsets = self._offsets[partition]
        offsets.received(offset)
        try:
            command = decode_step_command(msg.value() or b"")
        except EventDecodeError as exc:
            self._quarantine(msg, exc, now_ms)
            offsets.finished(offset, f"undecodable@{offset}")
            return
        if state.get(LEDGER_TABLE, done_key(command.command_id)) is not None:
            # Finished before a crash, past the committed offset: its result is on ingress.
            self.figures.skipped_done += 1
            offsets.finished(offset, command.command_id)
            self._marked[partition][offset] = command.command_id
            self.begin()
            return
        self.queue.add(Pending(partition, offset, msg.key() or b"", command.tenant, command))
        self.figures.max_buffered_seen = max(self.figures.max_buffered_seen, self.queue.buffered)

    def _quarantine(self, msg: Any, exc: EventDecodeError, now_ms: int) -> None:
        record = Record(STEPS_ROLE, msg.partition(), msg.offset(), msg.key(), msg.value(),
                        tuple(msg.headers() or ()), msg.timestamp()[1])  # fmt: skip
        ctx = Context(now_ms, msg.partition(), self.deployment)
        emit = quarantine_emit(record, UNDECODABLE, exc.detail, ctx, origin="steps-runner")
        self.begin()
        produce(self._producer, self.quarantine_topic, emit.value, emit.key)
        self.figures.quarantined += 1

    async def _execute(self, pending: Pending[StepCommand], epoch: int) -> None:
        command, partition = pending.item, pending.partition
        try:
            ledger = PartitionLedger(self._states[partition], self.begin)
            outcome = await self.executor.execute(command, ledger, self._durable)
            if self._epochs.get(partition) != epoch:
                return  # the partition moved on (revoked, or rewound after an abort)
            self._answer(pending, outcome)
        finally:
            self._tasks.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self.queue.done(pending)

    def _answer(self, pending: Pending[StepCommand], outcome: StepOutcome) -> None:
        answer = outcome.answer
        value = encode(answer)
        headers: list[tuple[str, str | bytes | None]] = [
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
            *self.keyring.headers(self.key_id, answer.key, value),
        ]
        self.begin()
        produce(self._producer, self.ingress_topic, value, answer.key, headers=headers)
        self._offsets[pending.partition].finished(pending.offset, pending.item.command_id)
        if outcome.completed:
            self.figures.completed += 1
        else:
            self.figures.failed += 1
        self.observer.on_batch(1)

    def _flow_control(self) -> None:
        limit = self.settings.steps_max_buffered
        if not self._paused and self.queue.buffered >= limit:
            assigned = self._assignment()
            if assigned:
                self._consumer.pause(assigned)
                self._paused = True
                self.figures.pauses += 1
        elif self._paused and self.queue.buffered <= limit // 2:
            assigned = self._assignment()
            if assigned:
                self._consumer.resume(assigned)
            self._paused = False

    def _assignment(self) -> list[TP]:
        return [TP(self.steps_topic, p) for p in self._states]

    def _report(self) -> None:
        """Lag per partition to the observer (its stats file), the runner's figures to the log."""
        self._last_report = time.monotonic()
        lag: dict[str, int] = {}
        for partition in self._states:
            tp = TP(self.steps_topic, partition)
            try:
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            committed = self._committed.get(partition)
            if high >= 0 and committed is not None:
                lag[f"{self.steps_topic}[{partition}]"] = max(high - committed, 0)
        paused = len(self._assignment()) if self._paused else 0
        self.observer.on_flow(self.queue.in_flight, self.queue.buffered, paused)
        self.observer.on_lag(lag)
        log.debug("figures %s; in flight %d, waiting %d, paused %s, txn open %s, %d waiters",
                  asdict(self.figures), self.queue.in_flight, self.queue.buffered, self._paused,
                  self._txn_open, len(self._waiters))  # fmt: skip

    # -- transactions -------------------------------------------------------------------
    @property
    def _producer(self) -> Any:
        return self._checkpoint.committer.producer

    def begin(self) -> None:
        """Open the transaction that the next produce or ledger write belongs to."""
        if not self._txn_open:
            self._checkpoint.committer.begin()
            self._txn_open = True
            self._txn_started = time.monotonic()

    async def _durable(self) -> None:
        """Wait until every ledger write made so far has committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        await future

    def _commit_if_due(self) -> None:
        if not self._txn_open:
            return
        interval_s = self.host.commit_interval_ms / 1000
        if self._waiters or time.monotonic() - self._txn_started >= interval_s:
            self._commit()

    def _commit(self) -> bool:
        """Done markers, offsets and the checkpoint; on failure abort and rewind."""
        positions: dict[tuple[str, int], int] = {}
        for partition, offsets in self._offsets.items():
            committable = offsets.committable()
            if committable is None:
                continue
            self._mark_done(partition, offsets, committable)
            if self._committed.get(partition) != committable:
                positions[(self.steps_topic, partition)] = committable
        try:
            result = self._checkpoint.commit(self._states, positions)
        except KafkaException as exc:
            self._abort(exc.args[0])
            return False
        self._txn_open = False
        for (_, partition), offset in positions.items():
            self._committed[partition] = offset
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)
        self.figures.commits += 1
        self.observer.on_commit(result.seconds, result.changelog_records, result.offsets)
        return True

    def _mark_done(self, partition: int, offsets: PartitionOffsets, committable: int) -> None:
        """Remember finished commands past ``committable`` (a redelivery skips them) and
        forget those it has passed."""
        state, marked = self._states[partition], self._marked[partition]
        writes: list[Put | Delete] = []
        for offset in [o for o in marked if o < committable]:
            writes.append(Delete(LEDGER_TABLE, done_key(marked.pop(offset))))
        offsets.settle(committable)
        for offset, command_id in offsets.finished_ahead.items():
            if offset not in marked:
                marked[offset] = command_id
                writes.append(Put(LEDGER_TABLE, done_key(command_id), {"offset": offset}))
        if writes:
            state.apply(tuple(writes))

    def _abort(self, err: KafkaError) -> None:
        """The transaction failed: cancel every step, forget what is queued, and re-read
        from the committed offsets (the ledger's committed entries keep effects single)."""
        log.warning("step transaction failed (%s); aborting and rewinding", err.str())
        self.figures.aborts += 1
        self.observer.on_abort(err.str())
        self._checkpoint.committer.abort(err)
        self._txn_open = False
        self._reset(list(self._states))
        assigned = self._assignment()
        if assigned:
            for tp in self._consumer.committed(assigned, timeout=30):
                offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                self._consumer.seek(TP(tp.topic, tp.partition, offset))

    def _reset(self, partitions: list[int]) -> None:
        """Cancel and forget the work of ``partitions``; their stores drop uncommitted writes."""
        for task, pending in list(self._tasks.items()):
            if pending.partition in partitions:
                task.cancel()
        for partition in partitions:
            self.queue.drop_partition(partition)
            self._epochs[partition] = self._next_epoch()
            self._offsets[partition] = PartitionOffsets()
            self._marked[partition] = {}
            self._committed.pop(partition, None)
            state = self._states.get(partition)
            if state is not None:
                state.discard()
        for future in self._waiters:
            future.cancel()
        self._waiters = []

    def _next_epoch(self) -> int:
        # Never reused, so a step of a revoked partition cannot answer after it comes back.
        self._epoch_counter += 1
        return self._epoch_counter

    # -- rebalance ----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TP]) -> None:
        log.info("assigned %s", sorted(tp.partition for tp in partitions))
        base = Path(self.host.data_dir) / self.deployment.app_id
        for tp in partitions:
            if tp.partition in self._states:  # already ours: keep its state and queue
                continue
            self._states[tp.partition] = open_partition_state(
                self._restorer, base, {LEDGER_TABLE: LEDGER}, self.deployment, tp.partition,
                self.observer.on_restore,
            )  # fmt: skip
            self._offsets[tp.partition] = PartitionOffsets()
            self._marked[tp.partition] = {}
            self._epochs[tp.partition] = self._next_epoch()
        if self._paused and partitions:
            consumer.pause(partitions)
        self.observer.on_assign(sorted(self._states))

    def _on_revoke(self, consumer: Consumer, partitions: list[TP]) -> None:
        log.info("revoked %s", sorted(tp.partition for tp in partitions))
        if self._txn_open:
            self._commit()  # what finished so far, before the partitions move
        self._release([tp.partition for tp in partitions])

    def _on_lost(self, consumer: Consumer, partitions: list[TP]) -> None:
        log.info("lost %s", sorted(tp.partition for tp in partitions))
        if self._txn_open:
            self._abort(KafkaError(KafkaError._STATE, "partitions lost"))
        self._release([tp.partition for tp in partitions])

    def _release(self, partitions: list[int]) -> None:
        self._reset(partitions)
        for partition in partitions:
            self._offsets.pop(partition, None)
            self._marked.pop(partition, None)
            self._epochs.pop(partition, None)
            state = self._states.pop(partition, None)
            if state is not None:
                state.close()
        # RocksDB keeps a closed store's files locked while anything still refers to it (an
        # iterator in a reference cycle, say, which the collector, run rarely here, has not
        # freed yet); the partition may come straight back, so free such garbage now.
        gc.collect()
        self.observer.on_assign(sorted(self._states))
