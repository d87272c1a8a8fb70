"""A worker that SIGKILLs itself inside an open transaction, at a point the test chooses.

Killing a worker from the outside cannot be aimed: a transaction opens and commits within
milliseconds, and a test that watches the log sees a record only after a fetch round trip.
Three CI runs failed on "no kill landed inside a transaction" that way. So the worker kills
itself, from inside the checkpoint:

``agentflow worker --processor tests.integration.crashpoint:crashing`` runs the processors
named by ``AGENTFLOW_TEST_CRASH_PROCESSOR`` (a ``module:factory``; empty: the default gate and
orchestrator), with every table codec wrapped. The checkpoint encodes a table's changed values
after the transaction's outputs were produced and before anything is committed (step 2 of
``streams.checkpoint``). When the ``AGENTFLOW_TEST_CRASH_AT_WRITE``-th value is encoded, the
process waits a second (the producer's own thread delivers the transaction's outputs to the
broker meanwhile; linger is 5 ms) and sends itself SIGKILL. The transaction is then open, holds
outputs, and its offsets and changelog records were never sent.

``AGENTFLOW_TEST_CRASH_AT_RECORD`` kills it instead as it starts processing its N-th record. The
host commits on a committer thread while it processes the next records (``streams.commit_flow``),
so under load such a kill mostly lands with a commit in flight and the outputs of the records
processed since held in memory, waiting for the next transaction. Nothing here is imported by
the product: it is a test fixture run through the worker's public ``--processor`` option.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from typing import Any

from agentflow.composition import load_processors, worker_processors
from agentflow.settings import load_settings
from processors.contract import private_copy

#: ``--processor`` for a worker that kills itself (see the module docstring).
CRASHING = "tests.integration.crashpoint:crashing"
PROCESSOR_ENV = "AGENTFLOW_TEST_CRASH_PROCESSOR"
AT_WRITE_ENV = "AGENTFLOW_TEST_CRASH_AT_WRITE"
AT_RECORD_ENV = "AGENTFLOW_TEST_CRASH_AT_RECORD"
#: Long enough for the producer thread to deliver what the transaction holds.
DELIVERY_PAUSE_S = 1.0


def crash_env(at_write: int, processor: str = "", at_record: int = 0) -> dict[str, str]:
    """The environment that makes a ``crashing`` worker kill itself at its ``at_write``-th
    encoded table value (or, if ``at_record``, as it starts its ``at_record``-th record),
    running ``processor`` (default: the gate and the orchestrator)."""
    if at_record:
        return {AT_RECORD_ENV: str(at_record), PROCESSOR_ENV: processor}
    return {AT_WRITE_ENV: str(at_write), PROCESSOR_ENV: processor}


class _Countdown:
    """SIGKILLs this process at its ``crash_at``-th tick (never, if 0)."""

    def __init__(self, crash_at: int) -> None:
        self.crash_at = crash_at
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.count == self.crash_at:
            time.sleep(DELIVERY_PAUSE_S)
            os.kill(os.getpid(), signal.SIGKILL)


class _CrashingCodec:
    def __init__(self, inner: Any, counter: _Countdown) -> None:
        self._inner = inner
        self._counter = counter

    def encode(self, value: Any) -> bytes:
        self._counter.tick()
        data: bytes = self._inner.encode(value)
        return data

    def decode(self, data: bytes) -> Any:
        return self._inner.decode(data)

    def copy(self, value: Any) -> Any:
        # Not an encode the checkpoint makes: never counted.
        return private_copy(self._inner, value)


class _CrashingProcessor:
    """The wrapped processor, unchanged but for its tables' codecs and a record count."""

    def __init__(self, inner: Any, counter: _Countdown, records: _Countdown) -> None:
        self._inner = inner
        self._records = records
        self.tables = tuple(
            dataclasses.replace(t, codec=_CrashingCodec(t.codec, counter)) for t in inner.tables
        )

    def process(self, record: Any, state: Any, ctx: Any) -> Any:
        self._records.tick()
        return self._inner.process(record, state, ctx)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def crashing() -> list[Any]:
    """The ``--processor`` factory (see the module docstring)."""
    counter = _Countdown(int(os.environ.get(AT_WRITE_ENV, "0")))
    records = _Countdown(int(os.environ.get(AT_RECORD_ENV, "0")))
    spec = os.environ.get(PROCESSOR_ENV, "")
    inner = load_processors([spec]) if spec else worker_processors(load_settings())
    return [_CrashingProcessor(p, counter, records) for p in inner]
