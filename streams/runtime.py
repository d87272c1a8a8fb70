"""The code path between consume and produce, shared by the host and the test driver.

A :class:`PartitionTask` owns one input partition: its tables and the processors reading it.
It turns a record (or a punctuation tick) into emits and table writes. Because the host and the
:class:`~streams.driver.TestDriver` both call it, a driver test and a broker test cannot
disagree about what a processor does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from processors.contract import Context, Emit, Processor, Record, Result
from processors.deployment import Deployment
from processors.quarantine import quarantine_emit
from processors.reasons import PROCESSOR_ERROR
from streams.tables import PartitionState


@dataclass
class TaskCounters:
    processed: int = 0
    poison: int = 0
    punctuations: int = 0


@dataclass
class PartitionTask:
    """Runs processors over one partition's records, with that partition's state."""

    partition: int
    processors: Sequence[Processor]
    state: PartitionState
    deployment: Deployment
    counters: TaskCounters = field(default_factory=TaskCounters)
    #: Called for each record a processor raised on (after it went to quarantine).
    on_poison: Callable[[Record, str, Exception], None] | None = None
    next_punctuation_ms: dict[str, int] = field(default_factory=dict)
    _ctx: Context | None = field(default=None, repr=False)

    def context(self, now_ms: int) -> Context:
        """The context for ``now_ms``; one object per tick, not per record."""
        ctx = self._ctx
        if ctx is None or ctx.now_ms != now_ms:
            ctx = self._ctx = Context(now_ms, self.partition, self.deployment)
        return ctx

    def process(self, record: Record, now_ms: int) -> list[Emit]:
        """Every processor that reads ``record.role``, in order; the emits they decided."""
        ctx = self.context(now_ms)
        emits: list[Emit] = []
        for proc in self.processors:
            if record.role not in proc.input_roles:
                continue
            try:
                result = proc.process(record, self.state, ctx)
            except Exception as exc:  # a processor bug, not bad input: quarantine, go on
                emits.append(self._poison(record, proc, exc, now_ms))
                continue
            emits.extend(self._apply(result))
        self.counters.processed += 1
        return emits

    def punctuate(self, now_ms: int) -> list[Emit]:
        """Fire each processor's punctuation that is due at ``now_ms``."""
        emits: list[Emit] = []
        for proc in self.processors:
            interval = proc.punctuate_interval_ms
            if interval <= 0:
                continue
            due = self.next_punctuation_ms.setdefault(proc.name, now_ms)
            if now_ms < due:
                continue
            self.next_punctuation_ms[proc.name] = now_ms + interval
            ctx = self.context(now_ms)
            emits.extend(self._apply(proc.punctuate(self.state, ctx)))
            self.counters.punctuations += 1
        return emits

    def _apply(self, result: Result) -> tuple[Emit, ...]:
        if result.writes:
            self.state.apply(result.writes)
        return result.emits

    def _poison(self, record: Record, proc: Processor, exc: Exception, now_ms: int) -> Emit:
        self.counters.poison += 1
        if self.on_poison is not None:
            self.on_poison(record, proc.name, exc)
        detail = f"{type(exc).__name__}: {exc}"
        ctx = self.context(now_ms)
        return quarantine_emit(record, PROCESSOR_ERROR, detail, ctx, origin=f"host/{proc.name}")
