"""The stream host: consume → process → produce on confluent-kafka, exactly once.

The host knows nothing about workflows. It resolves topic roles through the
:class:`~processors.deployment.Deployment` it is given, feeds each consumed record to the
:class:`~streams.runtime.PartitionTask` of its partition, produces what the processors emit,
and makes it durable through :class:`~streams.checkpoint.Checkpoint` with the
:class:`~streams.committer.Committer` of its guarantee, pipelined by a
:class:`~streams.commit_flow.CommitFlow`. It reports what it does to a
:class:`~streams.observer.HostObserver`.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as TP

from processors.contract import Emit, Processor, Record
from processors.deployment import Deployment, UnknownRoleError
from processors.roles import QUARANTINE_ROLE
from streams import clients
from streams.batching import BatchSizer
from streams.checkpoint import Checkpoint
from streams.commit_flow import CommitFlow
from streams.committer import AtLeastOnceCommitter, Committer, ExactlyOnceCommitter
from streams.errors import (
    ConsumerFailed,
    HostError,
    LostWatch,
    RestartBudget,
    StartupError,
    consumer_failed,
    start_again,
)
from streams.observer import CommitReport, HostObserver, NullObserver
from streams.recovery import Restorer, open_partition_state
from streams.runtime import PartitionTask
from streams.settings import HostSettings, KafkaSettings
from streams.state_cache import StateCache
from streams.tables import PartitionState, StoreMemory
from streams.tracing import SpanFacts, Tracing, process_traced

log = logging.getLogger("agentflow.host")
_NO_KWARGS: dict[str, Any] = {}


class StreamHost:
    """Runs ``processors`` in one consumer group until asked to stop."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: HostSettings,
        deployment: Deployment,
        processors: Sequence[Processor],
        observer: HostObserver | None = None,
        clock: Callable[[], float] = time.time,
        tracing: Tracing | None = None,
        span_facts: SpanFacts | None = None,
    ) -> None:
        self.kafka = kafka
        self.tracing = tracing
        self.span_facts = span_facts
        self.settings = settings
        self.processors = list(processors)
        self._tables = {t.name: t for p in self.processors for t in p.tables}
        self.deployment = deployment.with_tables(self._tables)
        self.observer: HostObserver = observer or NullObserver()
        self._clock = clock
        self._input_roles = sorted({r for p in self.processors for r in p.input_roles})
        # Every role a processor may emit to, and quarantine, where poison records go.
        self._output_roles = sorted(
            {r for p in self.processors for r in p.output_roles} | {QUARANTINE_ROLE}
        )
        try:
            self.roles = {
                r: self.deployment.topic(r) for r in {*self._input_roles, *self._output_roles}
            }  # role -> topic
        except UnknownRoleError as exc:
            raise StartupError(f"{exc}; map it with --role ROLE=TOPIC") from None
        self._topic_roles = {self.roles[r]: r for r in self._input_roles}
        self._tasks: dict[int, PartitionTask] = {}
        # One RocksDB memory budget for all of this host's stores (0: RocksDB's defaults).
        self._store_memory = (
            StoreMemory.bounded(settings.rocksdb_memory_bytes)
            if settings.rocksdb_memory_bytes
            else None
        )
        self._assigned: dict[int, set[str]] = {}
        self._batches = BatchSizer(settings.batch_size, settings.batch_max_ms / 1000)
        self._flow: CommitFlow | None = None
        self._stop = False
        self._failed_checkpoints = 0
        self._last_stats = time.monotonic()
        self._restarts = RestartBudget()
        self._lost_watch = LostWatch(max(60.0, 5 * settings.session_timeout_ms / 1000))

    # -- lifecycle ----------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        """Finish the current batch, commit and close the stores. As a static member the worker
        keeps its partitions until its session times out, or until it starts again."""
        self._stop = True

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def run(self) -> None:
        """Run until :meth:`request_stop`. A consumer librdkafka declares dead is replaced,
        with the producer and the stores, as a restarted process would replace them."""
        self._start()
        try:
            while not self._stop:
                try:
                    self._cycle()
                except ConsumerFailed as exc:
                    self._restart(str(exc))
        finally:
            self._shutdown()

    def _restart(self, why: str) -> None:
        self._restarts.spend(why)
        log.warning("consumer failed (%s); starting the Kafka clients again", why)
        self._report_commits(self.flow.abandon())
        self.flow.close()
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.close()
        for task in self._tasks.values():
            task.state.close()  # uncommitted writes go with them; restore catches them up
        self._tasks.clear()
        self._assigned.clear()
        self._restorer.close()
        self.observer.on_assign([])
        start_again(self._start)

    def _start(self) -> None:
        inputs = list(self._topic_roles)
        changelogs = [self.deployment.changelog(t) for t in self._tables]
        outputs = sorted({self.roles[r] for r in self._output_roles} - set(inputs))
        counts = clients.check_topics(self.kafka, inputs + changelogs + outputs)
        co_partitioned = {t: counts[t] for t in inputs + changelogs}
        if len(set(co_partitioned.values())) > 1:
            raise StartupError(
                f"input and changelog topics must have one partition count, found {co_partitioned}"
            )
        if counts[inputs[0]] != self.deployment.partitions:
            # Processors route keys by the deployment's count: it must be the topics' count.
            self.deployment = replace(self.deployment, partitions=counts[inputs[0]])
        kafka, host, app_id = self.kafka, self.settings, self.deployment.app_id
        self._consumer = Consumer(clients.consumer_config(kafka, host, app_id))
        producer_config = clients.producer_config(kafka, host, app_id)
        committer: Committer
        if host.exactly_once:
            committer = ExactlyOnceCommitter(
                producer_config, self._consumer, kafka.bootstrap_servers
            )
        else:
            committer = AtLeastOnceCommitter(producer_config, self._consumer)
        self._restorer = Restorer(clients.restore_consumer_config(kafka, host, app_id))
        self._flow = CommitFlow(Checkpoint(committer, host.commit_call_timeout_s), host)
        self._consumer.subscribe(
            inputs, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        log.info("host started: inputs %s, tables %s", inputs, sorted(self._tables))

    def _shutdown(self) -> None:
        try:
            if self._flow is not None:
                try:
                    self._commit()
                except ConsumerFailed as exc:  # a wedged commit: stop without it
                    log.warning("stopping without a last commit (%s); the next start redoes "
                                "what it held", exc)  # fmt: skip
            with contextlib.suppress(RuntimeError):  # closed already by a failed restart
                self._consumer.close()  # revokes, committing nothing new
        finally:
            for task in self._tasks.values():
                task.state.close()
            self._tasks.clear()
            self._restorer.close()
            if self._flow is not None:
                self._flow.close()
                self._flow.checkpoint.committer.producer.flush(10)
            self.observer.on_stop()

    # -- the loop -----------------------------------------------------------------------
    def _poll_batch(self) -> list[Any]:
        """What is queued now, up to a batch (:class:`~streams.batching.BatchSizer`); when
        nothing is, wait (50 ms at most) for the first record only. ``consume(n, timeout)``
        would wait out its whole timeout for a batch that is not full, adding up to 50 ms to
        every record's latency below full load."""
        consumer, size = self._consumer, self._batches.size
        msgs: list[Any] = consumer.consume(size, timeout=0)
        if msgs:
            return msgs
        first = consumer.poll(self.flow.idle_wait_s())
        if first is None:
            return []
        return [first, *consumer.consume(size - 1, timeout=0)] if size > 1 else [first]

    @property
    def flow(self) -> CommitFlow:
        if self._flow is None:
            raise RuntimeError("the host has not started")
        return self._flow

    def _cycle(self) -> None:
        flow = self.flow
        msgs = self._poll_batch()
        now_ms = int(self._clock() * 1000)
        try:
            if not msgs:  # caught up: nothing better to do than finish the commit in flight
                self._report_commits(flow.settle(wait=True))
            full = len(msgs) >= self._batches.size
            started = time.perf_counter()
            processed = self._process_batch(msgs, now_ms, full)
            self._batches.observe(processed, time.perf_counter() - started)
            self._punctuate(now_ms)
            self._report_commits(flow.settle(wait=False))
            if flow.due(caught_up=not full, full=full):
                flow.start(self._states())
        except KafkaException as exc:  # a failed commit, or a producer error mid-batch
            self._recover_from(exc.args[0])
            processed = 0
        if processed:
            self.observer.on_batch(processed)
        if time.monotonic() - self._last_stats >= self.settings.stats_interval_s:
            self._report()
        if self._lost_watch.overdue():
            self._lost_watch.assigned()  # the new consumer starts the watch afresh
            raise ConsumerFailed(f"partitions lost over {self._lost_watch.patience_s:.0f} s "
                                 "ago and never assigned again")  # fmt: skip

    def _states(self) -> dict[int, PartitionState]:
        return {p: task.state for p, task in self._tasks.items()}

    def _process_batch(self, msgs: list[Any], now_ms: int, full: bool) -> int:
        processed = 0
        flow = self.flow
        roles, tasks, produce = self._topic_roles, self._tasks, self._produce
        for msg in msgs:
            err = msg.error()
            if err is not None:
                self._on_consume_error(err)
                continue
            topic, partition = msg.topic(), msg.partition()
            task = tasks.get(partition)
            if task is None:  # revoked within this batch
                continue
            flow.begin()
            headers = msg.headers()
            offset = msg.offset()
            record = Record(
                roles[topic],
                partition,
                offset,
                msg.key(),
                msg.value(),
                tuple(headers) if headers else (),
                msg.timestamp()[1],
            )
            if self.tracing is None:
                for emit in task.process(record, now_ms):
                    produce(emit)
            else:
                for emit in process_traced(self.tracing, self.span_facts, task, record, topic,
                                           now_ms):  # fmt: skip
                    produce(emit)
            flow.offsets[(topic, partition)] = offset + 1
            processed += 1
            flow.tally.records += 1
            # Checking every record costs more than the check is worth; every 16 records
            # (a few ms) a finished commit is noticed soon enough.
            if not processed % 16:
                self._report_commits(flow.settle(wait=False))
                if flow.due(caught_up=False, full=full):
                    flow.start(self._states())
        return processed

    def _punctuate(self, now_ms: int) -> None:
        for task in self._tasks.values():
            emits = task.punctuate(now_ms)
            if emits or task.state.has_pending():
                self.flow.begin()
            for emit in emits:
                self._produce(emit)

    def _produce(self, emit: Emit) -> None:
        topic = self.roles.get(emit.role)
        if topic is None:
            raise HostError(
                f"a processor emitted to role '{emit.role}', which is not among its "
                f"output_roles {self._output_roles}"
            )
        if emit.headers or emit.partition is not None:
            kwargs: dict[str, Any] = {"headers": list(emit.headers)} if emit.headers else {}
            if emit.partition is not None:
                kwargs["partition"] = emit.partition
        else:
            kwargs = _NO_KWARGS
        flow = self.flow
        flow.send(topic, emit.value, emit.key, kwargs)
        flow.tally.emit(emit.role, emit.tag)

    def _commit(self) -> bool:
        """Commit everything processed so far before returning; on failure abort and rewind.
        True if it committed."""
        try:
            self._report_commits(*self.flow.commit_now(self._states()))
        except KafkaException as exc:
            self._recover_from(exc.args[0])
            return False
        return True

    def _report_commits(self, *reports: CommitReport | None) -> None:
        for report in reports:
            if report is not None:
                self._failed_checkpoints = 0
                self.observer.on_commit(report)

    def _recover_from(self, err: KafkaError) -> None:
        """Abort what this checkpoint did and re-read from the committed offsets; stop the
        worker if checkpoints keep failing (a fault that will not heal by retrying)."""
        log.warning("checkpoint failed (%s); aborting and rewinding", err.str())
        self.observer.on_abort(err.str())
        self._report_commits(self.flow.aborted(err))
        for task in self._tasks.values():
            task.state.discard()
        self._failed_checkpoints += 1
        limit = self.settings.max_failed_checkpoints
        if self._failed_checkpoints >= limit:
            # Nothing is left open: the shutdown that follows closes cleanly.
            raise HostError(
                f"{limit} checkpoints in a row failed, the last with: {err.str()}. Stopping "
                "rather than retrying forever; fix the cause (a missing or deleted topic, an "
                "ACL, the broker) and start the worker again"
            )
        self._rewind()

    def _rewind(self) -> None:
        assigned = [TP(t, p) for p, topics in self._assigned.items() for t in topics]
        clients.rewind_to_committed(self._consumer, assigned)

    def _on_consume_error(self, err: KafkaError) -> None:
        if consumer_failed(err):
            raise ConsumerFailed(err.str())
        if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise StartupError(f"an input topic disappeared: {err.str()}")
        log.warning("consumer: %s", err.str())

    # -- rebalance ----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TP]) -> None:
        if partitions:
            self._lost_watch.assigned()
        for tp in partitions:
            topics = self._assigned.setdefault(tp.partition, set())
            topics.add(tp.topic)
            if tp.partition not in self._tasks:
                self._tasks[tp.partition] = self._open_task(tp.partition)
        self.observer.on_assign(sorted(self._assigned))

    def _open_task(self, partition: int) -> PartitionTask:
        base = Path(self.settings.data_dir) / self.deployment.app_id
        state = open_partition_state(
            self._restorer, base, self._tables, self.deployment, partition,
            self.observer.on_restore,
            StateCache(self.settings.state_cache_bytes // self.deployment.partitions),
            self._store_memory,
        )  # fmt: skip
        return PartitionTask(
            partition,
            self.processors,
            state,
            self.deployment,
            on_poison=self.observer.on_poison,
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TP]) -> None:
        self._commit()  # everything processed so far, before the partitions move
        self._release(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TP]) -> None:
        # The group moved on without us: this checkpoint cannot commit any more.
        self._lost_watch.lost()
        # A commit in flight flushes its stores before they close; if it failed, the abort
        # below takes it back.
        with contextlib.suppress(KafkaException):
            self._report_commits(self.flow.settle(wait=True))
        self._release(partitions)
        if self.flow.open or self.flow.in_flight:
            self._recover_from(KafkaError(KafkaError._STATE, "partitions lost"))

    def _release(self, partitions: list[TP]) -> None:
        for tp in partitions:
            self.flow.offsets.pop((tp.topic, tp.partition), None)
            topics = self._assigned.get(tp.partition, set())
            topics.discard(tp.topic)
            if not topics:
                self._assigned.pop(tp.partition, None)
                task = self._tasks.pop(tp.partition, None)
                if task is not None:
                    task.state.close()
        self.observer.on_assign(sorted(self._assigned))

    # -- figures ------------------------------------------------------------------------
    def _report(self) -> None:
        self._last_stats = time.monotonic()
        lag: dict[str, int] = {}
        for p, topics in self._assigned.items():
            for t in topics:
                try:
                    _, high = self._consumer.get_watermark_offsets(TP(t, p), cached=True)
                    pos = self._consumer.position([TP(t, p)])[0].offset
                except KafkaException:
                    continue
                if high >= 0 and pos >= 0:
                    lag[f"{t}[{p}]"] = max(high - pos, 0)
        self.observer.on_lag(lag)
