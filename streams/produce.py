"""Producing with backpressure: the one place that waits when librdkafka's queue is full."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer

_BACKOFF_S = 0.05


def produce(
    producer: Producer,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    **kwargs: Any,
) -> None:
    """``producer.produce(...)``; when its local queue is full (``BufferError``), serve
    delivery callbacks for up to 50 ms so it drains, then try again. Never drops a record."""
    while True:
        try:
            producer.produce(topic, value, key, **kwargs)
            return
        except BufferError:
            producer.poll(_BACKOFF_S)
