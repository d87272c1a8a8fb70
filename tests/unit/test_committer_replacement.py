"""A transactional producer that died mid-run (fenced, or its transaction timed out while the
broker was away) is replaced once the broker answers again, not given up on at the first try."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.committer import ExactlyOnceCommitter
from streams.errors import StartupError


class _DeadProducer:
    def abort_transaction(self, timeout: float) -> None:
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "the broker is away"))


def test_a_dead_producer_is_replaced_once_the_broker_answers_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    committer = ExactlyOnceCommitter.__new__(ExactlyOnceCommitter)  # no broker needed
    committer.producer = _DeadProducer()
    fresh: Any = object()
    tries: list[int] = []

    def new_producer() -> Any:
        tries.append(1)
        if len(tries) == 1:  # the broker is still away on the first try (2 s apart)
            raise StartupError("the broker refused transactions (Timed out)")
        return fresh

    monkeypatch.setattr(committer, "_new_producer", new_producer)
    committer.abort(KafkaError(KafkaError._MSG_TIMED_OUT, "a message timed out"))
    assert len(tries) == 2
    assert committer.producer is fresh
