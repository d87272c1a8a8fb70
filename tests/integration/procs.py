"""Processors for host tests, loaded by worker subprocesses as ``tests.integration.procs:X``."""

from __future__ import annotations

import time
from dataclasses import dataclass

from examples.counter import CounterProcessor
from processors.contract import Context, Record, Result, StateView


@dataclass
class PoisonCounter(CounterProcessor):
    """The counter, with a bug: it raises on the value ``boom``."""

    def process(self, record: Record, state: StateView, ctx: Context) -> Result:
        if record.value == b"boom":
            raise ZeroDivisionError("boom is not a number")
        return super().process(record, state, ctx)


@dataclass
class SlowCounter(CounterProcessor):
    """The counter, slowed to 5 ms a record, so a transaction stays open for seconds."""

    def process(self, record: Record, state: StateView, ctx: Context) -> Result:
        time.sleep(0.005)
        return super().process(record, state, ctx)
