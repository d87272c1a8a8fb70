"""Producing an accepted request to the ingress topic, and knowing when the broker has it.

:meth:`Publisher.publish` resolves only when the broker acknowledged the record (idempotent
producer, ``acks=all``), so the app answers 202 only for what is on the topic. A delivery that
fails or times out (``timeout_s``: the broker is down, say) raises :class:`BrokerUnavailable`
and the app answers 503: the client sends again, and a record that did reach the topic after
all is the same event id, which the engine drops as a duplicate.

A thread of its own serves the producer's delivery callbacks, which settle the asyncio futures
the requests wait on. A producer that hit a fatal error (possible for an idempotent one after
deliveries time out) is replaced before the next request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from processors.partitioning import partition_for


class BrokerUnavailable(Exception):
    """The record was not acknowledged: the broker is down, unreachable or too slow."""


class Publisher:
    """Produces to one topic; see the module docstring."""

    def __init__(
        self,
        client_config: Mapping[str, Any],
        topic: str,
        partitions: int,
        timeout_s: float = 5.0,
    ) -> None:
        self.topic = topic
        self.partitions = partitions
        self._config = {
            **client_config,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "message.timeout.ms": int(timeout_s * 1000),
            "log_level": 2,
            "error_cb": self._on_error,
        }
        self._fatal = False
        self._producer = Producer(self._config)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="edge-producer", daemon=True)
        self._thread.start()

    async def publish(
        self, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> tuple[int, int]:
        """Produce and wait for the broker's acknowledgement; its (partition, offset)."""
        if self._fatal:  # an idempotent producer that hit a fatal error takes nothing more
            self._fatal = False
            self._producer = Producer(self._config)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[int, int]] = loop.create_future()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(_settle, done, err, msg)

        try:
            self._producer.produce(
                self.topic,
                value,
                key,
                partition=partition_for(key, self.partitions),
                headers=list(headers),
                on_delivery=delivered,
            )
        except BufferError:
            raise BrokerUnavailable("the producer's queue is full: the broker is not keeping up") \
                from None  # fmt: skip
        except KafkaException as exc:
            raise BrokerUnavailable(str(exc)) from None
        return await done

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = True

    def _serve(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(0.05)

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout_s``) and stop."""
        self._producer.flush(timeout_s)
        self._stopping.set()
        self._thread.join(timeout=2.0)


def _settle(done: asyncio.Future[tuple[int, int]], err: KafkaError | None, msg: Message) -> None:
    if done.done():
        return
    if err is not None:
        done.set_exception(BrokerUnavailable(err.str()))
    else:
        done.set_result((msg.partition() or 0, msg.offset() or 0))
