"""The step runner (``agentflow steps run``): step commands in, signed results out, exactly once.

It consumes the steps topic with confluent-kafka and runs steps on asyncio, many at a time:

- **Order, concurrency and fairness** (:class:`~agents.scheduling.WorkQueue`): one step in
  flight per workflow, in arrival order; across workflows up to ``max_in_flight`` at once,
  within each tenant's concurrency and rate limits, urgent steps first, tenants taking
  weighted turns.
- **Offsets** (:class:`~agents.inflight.PartitionOffsets`): committed up to the lowest
  unfinished command; commands finished past it get a done marker in the ledger table, so a
  redelivery after a crash does not run them again.
- **Flow control** (:class:`~agents.partitions.PartitionPause`): past ``max_buffered``
  waiting commands the runner pauses its partitions and keeps polling; it resumes at half.
- **Daily budgets** (:class:`~agents.tenant_spend.DailyBudgets`, soft): a model step of a
  tenant past its daily tokens or cost is answered ``step.failed`` without calling the model.
- **Transactions**: results (signed ``step.completed`` / ``step.failed`` on ingress), usage
  records, the ledger's writes and the offsets commit in one Kafka transaction (the host's
  :class:`~streams.checkpoint.Checkpoint`) every ``commit_interval_ms``, or at once when a
  step waits for its ledger intent to be durable before a side effect.
- **Stop**: SIGTERM stops taking commands; steps in flight get ``grace_s``, the rest are
  redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as TP

from agents.executor import StepExecutor, StepOutcome
from agents.figures import RunnerFigures
from agents.metrics import StepMetrics
from agents.partition_ledger import PartitionLedger
from agents.partitions import OwnedPartition, PartitionPause, committed_lag
from agents.scheduling import Pending, WorkQueue
from agents.settings import RunnerSettings
from agents.step_run import answer_record, run_step
from agents.tenant_spend import DailyBudgets, usage_record
from processors.contract import Context
from processors.deployment import Deployment
from processors.engine.records import StepCommand, decode_step_command
from processors.events import KeyRing
from processors.events.errors import EventDecodeError
from processors.quarantine import quarantine_emit
from processors.reasons import UNDECODABLE
from processors.roles import QUARANTINE_ROLE
from processors.steps import LEDGER, LEDGER_TABLE, done_key
from processors.steps.usage import USAGE_ROLE
from streams import clients
from streams.checkpoint import Checkpoint
from streams.commit_thread import CommitThread, CommitWedged, wedge_deadline_s
from streams.committer import ExactlyOnceCommitter
from streams.errors import ConsumerFailed, RestartBudget, StartupError, consumer_failed, start_again
from streams.observer import CommitTally, HostObserver, NullObserver
from streams.produce import produce
from streams.recovery import Restorer, open_partition_state
from streams.settings import HostSettings, KafkaSettings
from streams.tracing import TRACEPARENT, header_value

log = logging.getLogger("agentflow.steps")
STEPS_ROLE = "steps"
INGRESS_ROLE = "ingress"


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
        step_metrics: StepMetrics | None = None,
    ) -> None:
        if not host.exactly_once:
            raise StartupError("the step runner needs transactions (exactly_once)")
        self.kafka, self.host, self.settings = kafka, host, settings
        self.deployment = deployment.with_tables([LEDGER_TABLE])
        self.app_id = f"{deployment.app_id}-steps"
        self.executor = executor
        self.keyring, self.key_id = keyring, key_id
        self.observer: HostObserver = observer or NullObserver()
        self.step_metrics = step_metrics
        self.tracing = executor.tracing
        self.figures = RunnerFigures()
        self._clock = clock
        self.steps_topic = self.deployment.topic(STEPS_ROLE)
        self.ingress_topic = self.deployment.topic(INGRESS_ROLE)
        self.quarantine_topic = self.deployment.topic(QUARANTINE_ROLE)
        self.usage_topic = self.deployment.topic(USAGE_ROLE)
        self.budgets: DailyBudgets | None = None
        self.queue: WorkQueue[StepCommand] = WorkQueue(
            settings.steps_max_in_flight, settings.limit_for, time.monotonic
        )
        self._owned: dict[int, OwnedPartition] = {}
        self._epoch_counter = 0
        self._tasks: dict[asyncio.Task[None], Pending[StepCommand]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._txn_open = False
        self._txn_started = 0.0
        # What the open transaction holds, for the observer's exactly-once counts.
        self._tally = CommitTally()
        self.flow = PartitionPause(settings.steps_max_buffered)
        self._stopping = False
        self._commit_thread = CommitThread(
            "agentflow-step-commit", wedge_deadline_s(host.commit_call_timeout_s)
        )
        self._last_report = time.monotonic()
        self._restarts = RestartBudget()

    # -- lifecycle ----------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        """Stop taking commands; in-flight steps get the grace period to finish."""
        self._stopping = True

    def run(self) -> RunnerFigures:
        """Run until :meth:`request_stop`; what was done."""
        return asyncio.run(self._main())

    async def _main(self) -> RunnerFigures:
        self._start()
        self.budgets = DailyBudgets.started(self.settings, self.kafka.client_config(),
                                            self.usage_topic, self._clock)  # fmt: skip
        # A model step allocates thousands of short-lived objects (messages, schemas, HTTP
        # parts); with the default thresholds the cyclic collector runs every 700 of them and
        # re-scans the start-up objects in its older generations. Those are frozen out of its
        # sight, and the young generation is collected less often. The older generations keep
        # their default pace: slowed too, cyclic garbage piled up to 500 MiB under a flood.
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        try:
            while not self._stopping:
                try:
                    await self._cycle()
                except ConsumerFailed as exc:
                    await self._restart(str(exc))
            await self._drain()
        finally:
            if self.budgets is not None:
                self.budgets.spend.close()
            self._shutdown()
            # ru_maxrss is in KiB on Linux.
            self.figures.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return self.figures

    def _start(self) -> None:
        changelog = self.deployment.changelog(LEDGER_TABLE)
        topics = [self.steps_topic, changelog, self.ingress_topic, self.quarantine_topic,
                  self.usage_topic]  # fmt: skip
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
        self._checkpoint = Checkpoint(committer, host.commit_call_timeout_s)
        self._restorer = Restorer(clients.restore_consumer_config(kafka, host, self.app_id))
        self._consumer.subscribe(
            [self.steps_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("step runner started on %s (group %s)", self.steps_topic, self.app_id)

    async def _restart(self, why: str) -> None:
        """Replace a dead consumer, producer and stores as a restarted process would."""
        self._restarts.spend(why)
        log.warning("consumer failed (%s); starting the Kafka clients again", why)
        tasks = list(self._tasks)
        self._reset(list(self._owned))
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._txn_open:
            with contextlib.suppress(KafkaException):
                self._producer.abort_transaction(10)
            self._txn_open = False
        self._tally.reset()
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.close()
        for owned in self._owned.values():
            owned.state.close()
        self._owned.clear()
        self.flow.paused = False
        self._restorer.close()
        self.observer.on_assign([])
        start_again(self._start)

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
            with contextlib.suppress(RuntimeError):  # closed already by a failed restart
                self._consumer.close()
        finally:
            for owned in self._owned.values():
                owned.state.close()
            self._owned.clear()
            self._restorer.close()
            self._commit_thread.close()
            self._checkpoint.committer.producer.flush(10)
            self.observer.on_stop()

    # -- the loop -----------------------------------------------------------------------
    async def _cycle(self) -> None:
        msgs = self._poll()
        now_ms = int(self._clock() * 1000)
        for msg in msgs:
            self._accept(msg, now_ms)
        for pending in self.queue.ready():
            epoch = self._owned[pending.partition].epoch
            task = asyncio.create_task(self._execute(pending, epoch))
            task.add_done_callback(self._task_done)
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
            if consumer_failed(err):
                raise ConsumerFailed(err.str())
            log.warning("consumer: %s", err.str())
            return
        partition, offset = msg.partition(), msg.offset()
        owned = self._owned.get(partition)
        if owned is None:  # revoked since it was fetched
            return
        self.figures.received += 1
        offsets = owned.offsets
        offsets.received(offset)
        try:
            command = decode_step_command(msg.value() or b"")
        except EventDecodeError as exc:
            self._quarantine(msg, exc, now_ms)
            offsets.finished(offset, f"undecodable@{offset}")
            return
        if owned.state.get(LEDGER_TABLE, done_key(command.command_id)) is not None:
            # Finished before a crash, past the committed offset: its result is on ingress.
            self.figures.skipped_done += 1
            offsets.finished(offset, command.command_id)
            owned.marked[offset] = command.command_id
            self.begin()
            return
        urgent = self.executor.is_urgent(command)
        parent = header_value(msg.headers(), TRACEPARENT) if self.tracing is not None else None
        self.queue.add(
            Pending(partition, offset, msg.key() or b"", command.tenant, command, urgent, parent)
        )
        self.figures.max_buffered_seen = max(self.figures.max_buffered_seen, self.queue.buffered)

    def _quarantine(self, msg: Any, exc: EventDecodeError, now_ms: int) -> None:
        ctx = Context(now_ms, msg.partition(), self.deployment)
        emit = quarantine_emit(clients.record_of(msg, STEPS_ROLE), UNDECODABLE, exc.detail, ctx,
                               origin="steps-runner")  # fmt: skip
        self.begin()
        produce(self._producer, self.quarantine_topic, emit.value, emit.key)
        self.figures.quarantined += 1
        self._tally.records += 1
        self._tally.emit(QUARANTINE_ROLE, UNDECODABLE)

    async def _execute(self, pending: Pending[StepCommand], epoch: int) -> None:
        command, partition = pending.item, pending.partition
        ledger = PartitionLedger(self._owned[partition].state, self.begin)
        started = time.monotonic()
        outcome, trace_header = await run_step(self.executor, pending, ledger, self._durable,
                                               self.budgets, self.tracing)  # fmt: skip
        if self.step_metrics is not None:
            self.step_metrics.observe(command, outcome, time.monotonic() - started)
        owned = self._owned.get(partition)
        if owned is None or owned.epoch != epoch:
            return  # the partition moved on (revoked, or rewound after an abort)
        self._answer(pending, outcome, trace_header)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Free the step's slot and key. A done callback, not a ``finally`` in the step: a
        task cancelled before it ever ran (an abort in the cycle that started it) runs no
        code of its own, and would hold its slot for good."""
        pending = self._tasks.pop(task, None)
        if pending is not None:
            self.queue.done(pending)

    def _answer(
        self,
        pending: Pending[StepCommand],
        outcome: StepOutcome,
        trace_header: tuple[str, bytes] | None = None,
    ) -> None:
        key, value, headers = answer_record(outcome, self.keyring, self.key_id, trace_header)
        self.begin()
        produce(self._producer, self.ingress_topic, value, key, headers=headers)
        if outcome.usage is not None:  # for the tenants' daily budgets, in the transaction
            record = usage_record(pending.item, outcome.usage, int(self._clock() * 1000))
            produce(self._producer, self.usage_topic, record, pending.tenant.encode())
        self._owned[pending.partition].offsets.finished(pending.offset, pending.item.command_id)
        self.figures.answered(outcome.completed)
        self._tally.records += 1
        self._tally.emit(INGRESS_ROLE, "completed" if outcome.completed else "failed")
        self.observer.on_batch(1)

    def _flow_control(self) -> None:
        if self.flow.update(self._consumer, self._assignment(), self.queue.buffered):
            self.figures.pauses += 1

    def _assignment(self) -> list[TP]:
        return [TP(self.steps_topic, p) for p in self._owned]

    def _report(self) -> None:
        """Lag per partition to the observer (its stats file), the runner's figures to the log."""
        self._last_report = time.monotonic()
        lag = committed_lag(self._consumer, self.steps_topic, self._owned)
        paused = len(self._assignment()) if self.flow.paused else 0
        self.observer.on_flow(self.queue.in_flight, self.queue.buffered, paused)
        if self.step_metrics is not None:
            spent = self.budgets.spend.spent_today() if self.budgets is not None else {}
            self.step_metrics.set_flow(self.queue.waiting_by_tenant(), spent)
        self.observer.on_lag(lag)
        log.debug("figures %s; in flight %d, waiting %d, paused %s, txn open %s, %d waiters",
                  asdict(self.figures), self.queue.in_flight, self.queue.buffered, self.flow.paused,
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
        for partition, owned in self._owned.items():
            position = owned.position()
            if position is not None:
                positions[(self.steps_topic, partition)] = position
        try:
            states = {p: owned.state for p, owned in self._owned.items()}
            result = self._commit_thread.call(self._checkpoint.commit, states, positions)
        except KafkaException as exc:
            self._abort(exc.args[0])
            return False
        except CommitWedged as exc:  # its producer is given up, not aborted: the next fences it
            self._txn_open = False
            if not self._stopping:
                raise
            log.warning("stopping without a last commit (%s)", exc)
            return False
        self._txn_open = False
        for (_, partition), offset in positions.items():
            self._owned[partition].committed = offset
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)
        self.figures.commits += 1
        self.observer.on_commit(
            self._tally.report(result.seconds, result.changelog_records, result.offsets)
        )
        return True

    def _abort(self, err: KafkaError) -> None:
        """The transaction failed: cancel every step, forget what is queued, and re-read
        from the committed offsets (the ledger's committed entries keep effects single)."""
        log.warning("step transaction failed (%s); aborting and rewinding", err.str())
        self.figures.aborts += 1
        self.observer.on_abort(err.str())
        self._checkpoint.committer.abort(err)
        self._txn_open = False
        self._tally.reset()
        self._reset(list(self._owned))
        clients.rewind_to_committed(self._consumer, self._assignment())

    def _reset(self, partitions: list[int]) -> None:
        """Cancel and forget the work of ``partitions``; their stores drop uncommitted writes."""
        for task, pending in list(self._tasks.items()):
            if pending.partition in partitions:
                task.cancel()
        for partition in partitions:
            self.queue.drop_partition(partition)
            owned = self._owned.get(partition)
            if owned is not None:
                owned.reset(self._next_epoch())
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
            if tp.partition in self._owned:  # already ours: keep its state and queue
                continue
            state = open_partition_state(
                self._restorer, base, {LEDGER_TABLE: LEDGER}, self.deployment, tp.partition,
                self.observer.on_restore,
            )  # fmt: skip
            self._owned[tp.partition] = OwnedPartition(state, self._next_epoch())
        if self.flow.paused and partitions:
            consumer.pause(partitions)
        self.observer.on_assign(sorted(self._owned))

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
            owned = self._owned.pop(partition, None)
            if owned is not None:
                owned.state.close()
        # RocksDB keeps a closed store's files locked while anything still refers to it (an
        # iterator in a reference cycle, say, which the collector, run rarely here, has not
        # freed yet); the partition may come straight back, so free such garbage now.
        gc.collect()
        self.observer.on_assign(sorted(self._owned))
