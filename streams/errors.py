"""Errors the host raises; ``StartupError`` messages name the cause and the fix."""

import logging
import time
from collections.abc import Callable


class StartupError(RuntimeError):
    """The host cannot start: one line saying why and what to do."""


class HostError(RuntimeError):
    """The host hit a state it cannot continue from."""


class ConsumerFailed(RuntimeError):
    """librdkafka declared the consumer fatally failed (a static member fenced after the group
    coordinator moved, say): it must be replaced, as a restarted process would replace it."""


def consumer_failed(err: object) -> bool:
    """True if a consumer error event means the consumer is dead (librdkafka reports a fatal
    consumer error as an event with code ``_FATAL``, whose own ``fatal()`` is not set)."""
    from confluent_kafka import KafkaError

    assert isinstance(err, KafkaError)
    return bool(err.fatal()) or err.code() == KafkaError._FATAL


class RestartBudget:
    """How often a host may replace a failed consumer: ``limit`` times in ``window_s``
    seconds; past that it stops rather than replace it forever."""

    def __init__(self, limit: int = 5, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._at: list[float] = []

    def spend(self, why: str) -> None:
        """Count one replacement; raise :class:`HostError` if it is one too many."""
        now = time.monotonic()
        self._at = [t for t in self._at if now - t < self.window_s] + [now]
        if len(self._at) > self.limit:
            raise HostError(
                f"the consumer failed {len(self._at)} times in {self.window_s:.0f} s, the last "
                f"with: {why}. Stopping; check the broker and the consumer group"
            )


def start_again(
    start: Callable[[], None],
    patience_s: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run a host's ``start`` after its clients were replaced, asking again while the broker
    does not answer (a consumer is declared dead mostly when the broker is down or moving,
    so the first try often comes before it is back). Past ``patience_s`` the last
    :class:`StartupError` is raised: then it is no outage."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            start()
            return
        except StartupError as exc:
            if time.monotonic() > deadline:
                raise
            logging.getLogger("agentflow.host").warning("starting again: %s; retrying in 2 s",
                                                        exc)  # fmt: skip
            sleep(2.0)


class LostWatch:
    """Notices a consumer that lost its partitions (its session expired, mostly while the
    broker was away) and was never given any again. librdkafka's static members can stay
    out of the group after a broker restart (confluent-kafka-go #494); replacing the
    consumer, as :class:`RestartBudget` allows, brings it back. A worker that never had
    partitions, or gave them up in a rebalance, is not watched."""

    def __init__(self, patience_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.patience_s = patience_s
        self._clock = clock
        self._lost_at: float | None = None

    def lost(self) -> None:
        if self._lost_at is None:
            self._lost_at = self._clock()

    def assigned(self) -> None:
        self._lost_at = None

    def overdue(self) -> bool:
        """True once the partitions have been gone for longer than ``patience_s``."""
        return self._lost_at is not None and self._clock() - self._lost_at > self.patience_s
