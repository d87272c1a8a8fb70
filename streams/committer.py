"""How a checkpoint's offsets become durable: one strategy per processing guarantee.

The :class:`~streams.checkpoint.Checkpoint` runs the documented commit order; steps 3 and 4
(offsets and commit) and the transaction around a batch differ by guarantee, and live here:

- :class:`ExactlyOnceCommitter` — a transactional producer; the batch's outputs, changelog
  records and offsets commit together or not at all, and a fenced producer is replaced;
- :class:`AtLeastOnceCommitter` — for brokers without transactions: flush the producer, then
  commit the offsets; a crash between the two redelivers, nothing is lost.
"""

from __future__ import annotations

import logging
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streams.errors import StartupError, start_again

log = logging.getLogger("agentflow.host")


class Committer(Protocol):
    """The guarantee-specific part of a checkpoint. ``producer`` may change after an abort."""

    @property
    def producer(self) -> Producer: ...

    def begin(self) -> None:
        """A batch starts: everything produced from here belongs to it."""

    def commit(self, positions: list[TopicPartition], timeout_s: float) -> None:
        """Steps 3 and 4: make ``positions`` (and the batch's records) durable."""

    def abort(self, error: KafkaError) -> None:
        """The batch failed: undo what can be undone, and get a usable producer back."""


class ExactlyOnceCommitter:
    """Kafka transactions with a stable ``transactional.id`` per worker."""

    def __init__(
        self, producer_config: dict[str, object], consumer: Consumer, bootstrap: str
    ) -> None:
        self._config = producer_config
        self._consumer = consumer
        self._bootstrap = bootstrap
        self.producer = self._new_producer()

    def _new_producer(self) -> Producer:
        producer = Producer(self._config)
        try:
            producer.init_transactions(30)
        except KafkaException as exc:
            raise StartupError(
                f"the broker at {self._bootstrap} refused transactions "
                f"({exc.args[0].str()}). Use a broker with transactions enabled, or set "
                "AGENTFLOW_PROCESSING_GUARANTEE=at_least_once."
            ) from None
        return producer

    def begin(self) -> None:
        self.producer.begin_transaction()

    def commit(self, positions: list[TopicPartition], timeout_s: float) -> None:
        # One producer throughout: if these calls wedge (streams.commit_thread), the producer
        # is replaced while this thread still waits in them, and it must never reach the new one.
        producer = self.producer
        if positions:
            producer.send_offsets_to_transaction(
                positions, self._consumer.consumer_group_metadata(), timeout_s
            )
        # Step 4: commit (this flushes the producer and serves delivery callbacks).
        producer.commit_transaction(timeout_s)
        producer.poll(0)

    def abort(self, error: KafkaError) -> None:
        dead = error.fatal()
        if not dead:
            try:
                self.producer.abort_transaction(30)
            except KafkaException:
                dead = True
        if dead:
            # Fenced (a newer epoch exists, e.g. the coordinator timed our transaction out
            # while we were paused), or its transaction timed out while the broker was away:
            # this producer is dead. Start a new one, asking again while the broker is still
            # away: mid-run that is an outage to ride out, not a misconfiguration.
            log.warning("producer fenced; starting a new one")
            start_again(self._replace_producer)

    def _replace_producer(self) -> None:
        self.producer = self._new_producer()


class AtLeastOnceCommitter:
    """No transactions: flush, then commit the consumer's offsets synchronously."""

    def __init__(self, producer_config: dict[str, object], consumer: Consumer) -> None:
        # A record that could not be delivered must fail the checkpoint, or its offset would
        # be committed and the record lost (a transaction's commit reports that by itself).
        self.producer = Producer({**producer_config, "on_delivery": self._failed})
        self._consumer = consumer
        self._failures: list[KafkaError] = []

    def _failed(self, err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            self._failures.append(err)

    def begin(self) -> None:
        self._failures.clear()

    def commit(self, positions: list[TopicPartition], timeout_s: float) -> None:
        remaining = self.producer.flush(timeout_s)
        if self._failures:
            first = self._failures[0]
            raise KafkaException(
                KafkaError(
                    first.code(), f"{len(self._failures)} record(s) failed delivery: {first.str()}"
                )
            )
        if remaining:
            raise KafkaException(
                KafkaError(
                    KafkaError._MSG_TIMED_OUT,
                    f"{remaining} records were not delivered in {timeout_s}s",
                )
            )
        if positions:
            self._consumer.commit(offsets=positions, asynchronous=False)

    def abort(self, error: KafkaError) -> None:
        return None  # nothing was transactional; the rewind redelivers what was not committed
