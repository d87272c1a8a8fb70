"""Each tenant's model spend today, as the step runner sees it: :class:`TenantSpend` reads the
``usage`` topic (every partition, ``read_committed``, from the start of yesterday in UTC) on
a thread of its own and keeps the sums of :class:`~processors.steps.usage.DailySpend`.

The daily budget it feeds is **soft**: a record joins the sums once its transaction commits
and this reader has read it, so steps that start meanwhile (those in flight, on this runner
or another) can take a tenant past its budget by what they spend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from agents.model_step import StepUsage
from agents.settings import RunnerSettings
from processors.engine.records import StepCommand
from processors.events.errors import EventDecodeError
from processors.steps.usage import DailySpend, Spent, encode_usage, over_budget, utc_day

log = logging.getLogger("agentflow.steps")
DAY_MS = 24 * 3600 * 1000


class TenantSpend:
    """Today's spend per tenant, from the ``usage`` topic."""

    def __init__(
        self, client_config: dict[str, Any], topic: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._config = {**client_config, "group.id": "agentflow-tenant-spend",
                        "enable.auto.commit": False, "isolation.level": "read_committed",
                        "enable.partition.eof": False}  # fmt: skip
        self.topic = topic
        self._clock = clock
        self._sums = DailySpend()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tenant-spend", daemon=True)

    def start(self) -> TenantSpend:
        self._thread.start()
        return self

    def today(self) -> str:
        return utc_day(int(self._clock() * 1000))

    def spent(self, tenant: str) -> Spent:
        """What ``tenant`` has spent today, as far as this reader has read."""
        day = self.today()
        with self._lock:
            return self._sums.spent(tenant, day)

    def spent_today(self) -> dict[str, Spent]:
        """Every tenant's spend today."""
        day = self.today()
        with self._lock:
            return {t: s for (t, d), s in self._sums.totals.items() if d == day}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _assign(self, consumer: Consumer) -> None:
        metadata = consumer.list_topics(self.topic, timeout=30).topics[self.topic]
        now_ms = int(self._clock() * 1000)
        since = now_ms - now_ms % DAY_MS - DAY_MS  # yesterday's start: no day is cut short
        wanted = [TopicPartition(self.topic, p, since) for p in metadata.partitions]
        consumer.assign(consumer.offsets_for_times(wanted, timeout=30))

    def _run(self) -> None:
        consumer = Consumer(self._config)
        try:
            self._assign(consumer)
            while not self._stop.is_set():
                for msg in consumer.consume(500, 0.2):
                    if msg.error() is not None or msg.value() is None:
                        continue
                    try:
                        with self._lock:
                            self._sums.add_encoded(msg.value())
                    except EventDecodeError as exc:
                        log.warning("usage record at %s[%d]@%d skipped: %s", msg.topic(),
                                    msg.partition(), msg.offset(), exc)  # fmt: skip
                with self._lock:
                    self._sums.forget_before(utc_day(int(self._clock() * 1000) - DAY_MS))
        except KafkaException as exc:
            log.error("the tenant spend reader stopped: %s; daily budgets are not enforced",
                      exc)  # fmt: skip
        finally:
            consumer.close()


class DailyBudgets:
    """The runner's check before a model step: is its tenant past its daily budget?"""

    def __init__(self, budget_for: Callable[[str], tuple[int | None, Any]], spend: TenantSpend):
        self.budget_for = budget_for
        self.spend = spend

    @classmethod
    def started(
        cls,
        settings: RunnerSettings,
        client_config: dict[str, Any],
        topic: str,
        clock: Callable[[], float] = time.time,
    ) -> DailyBudgets | None:
        """The budgets of ``settings`` with their spend reader running; None without any."""
        if not settings.has_daily_budgets:
            return None
        spend = TenantSpend(client_config, topic, clock).start()
        return cls(settings.daily_budget_for, spend)

    def refusal(self, tenant: str) -> str | None:
        """Why ``tenant`` may not start another model step today, or None."""
        max_tokens, max_cost = self.budget_for(tenant)
        if max_tokens is None and max_cost is None:
            return None
        why = over_budget(self.spend.spent(tenant), max_tokens, max_cost)
        return None if why is None else f"tenant {tenant!r} is over its daily budget: {why}"


def usage_record(command: StepCommand, usage: StepUsage, ended_at_ms: int) -> bytes:
    """The ``usage`` record of a model step that answered ``command``."""
    return encode_usage(command.tenant, command.command_id, usage.model, usage.input_tokens,
                        usage.output_tokens, usage.cost_usd, ended_at_ms)  # fmt: skip
