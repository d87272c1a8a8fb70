"""Contender "limit": the least a Python consume → produce loop can do with confluent-kafka.

Batch consume (the host's consumer settings, plus a short ``fetch.queue.backoff.ms``), produce
each record's value and headers unchanged to the output topic (same key), commit the consumer
offsets asynchronously every commit interval. No state, no transactions: the ceiling for any
Python stream processor on this machine. Run as ``python -m bench.limit_app``;
configured by ``BENCH_*`` variables (see :mod:`bench.apps`).
"""

from __future__ import annotations

import signal
import time
from typing import Any

from confluent_kafka import Consumer, Producer

from bench.apps import AppEnv


def main() -> None:
    env = AppEnv.from_environ()
    stop = False

    def request_stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    consumer = Consumer(
        {
            "bootstrap.servers": env.bootstrap,
            "group.id": env.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50,
            "queued.min.messages": 20_000,
            # librdkafka >= 2.4 postpones a partition's next fetch by this much (default 1 s)
            # once its local queue is over the thresholds; at these rates that starves the
            # loop for whole seconds. The limit should show the ceiling, so keep it short.
            "fetch.queue.backoff.ms": 10,
            "log_level": 3,
        }
    )
    # The host's producer settings, minus the transactional id.
    producer = Producer(
        {
            "bootstrap.servers": env.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
            "compression.type": "lz4",
            "log_level": 3,
        }
    )
    consumer.subscribe([env.input_topic])
    env.write_info({"guarantee": "none (async offset commits)", "state": "none"})
    interval = env.commit_interval_ms / 1000
    last_commit = time.monotonic()
    produce = producer.produce
    output = env.output_topic
    pending = False
    while not stop:
        msgs = consumer.consume(env.batch_size, timeout=0.05)
        for msg in msgs:
            if msg.error() is not None:
                continue
            while True:
                try:
                    produce(output, msg.value(), msg.key(), headers=msg.headers())
                    break
                except BufferError:
                    producer.poll(0.05)
            pending = True
        producer.poll(0)
        if pending and time.monotonic() - last_commit >= interval:
            consumer.commit(asynchronous=True)
            last_commit, pending = time.monotonic(), False
    producer.flush(10)
    consumer.close()


if __name__ == "__main__":
    main()
