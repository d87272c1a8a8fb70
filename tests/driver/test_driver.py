"""The test driver runs processors like the host does: outputs, state, poison, punctuation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from examples.counter import CounterProcessor
from processors.codecs import IntCodec
from processors.contract import Context, Emit, Put, Record, Result, StateView, TableSpec
from processors.partitioning import partition_for
from processors.quarantine import read_quarantine
from streams.driver import TestDriver


def test_should_count_per_key_and_emit_one_output_per_record(tmp_path: Path) -> None:
    with TestDriver([CounterProcessor()], tmp_path) as driver:
        driver.pipe("input", b"a", b"x")
        driver.pipe("input", b"b", b"y")
        driver.pipe("input", b"a", b"z")
        assert driver.read("output") == [
            Emit("output", b"a", b"x|1"),
            Emit("output", b"b", b"y|1"),
            Emit("output", b"a", b"z|2"),
        ]
        assert driver.read("output") == []
        assert driver.state("counts", b"a") == 2
        assert driver.state("counts", b"missing") is None


def test_should_keep_state_in_the_key_partition(tmp_path: Path) -> None:
    with TestDriver([CounterProcessor()], tmp_path, partitions=4) as driver:
        driver.pipe("input", b"workflow-42", b"x")
        home = partition_for(b"workflow-42", 4)
        assert driver.state("counts", b"workflow-42", partition=home) == 1
        other = (home + 1) % 4
        assert driver.state("counts", b"workflow-42", partition=other) is None


@dataclass
class _Exploding(CounterProcessor):
    def process(self, record: Record, state: StateView, ctx: Context) -> Result:
        if record.value == b"boom":
            raise KeyError("no such thing")
        return super().process(record, state, ctx)


def test_should_quarantine_record_when_processor_raises_and_keep_no_writes(tmp_path: Path) -> None:
    with TestDriver([_Exploding()], tmp_path) as driver:
        driver.pipe("input", b"a", b"boom", headers=(("h", b"1"),))
        driver.pipe("input", b"a", b"ok")
        [quarantined] = driver.read("quarantine")
        body = read_quarantine(quarantined.value or b"")
        assert quarantined.key == b"a"
        assert body["reason"] == "processor_error"
        assert body["detail"] == "KeyError: 'no such thing'"
        assert body["quarantined_by"] == "host/counter"
        assert body["original_value"] == b"boom"
        assert body["original_headers"] == [{"key": "h", "value": b"1"}]
        assert driver.read("output") == [Emit("output", b"a", b"ok|1")]
        assert driver.counters.poison == 1


@dataclass
class _Ticker:
    """Counts punctuations per partition in a table and emits a tick each time."""

    name: str = "ticker"
    input_roles: tuple[str, ...] = ("input",)
    output_roles: tuple[str, ...] = ("ticks",)
    tables: tuple[TableSpec, ...] = (TableSpec("ticks", IntCodec()),)
    punctuate_interval_ms: int = 1000

    def process(self, record: Record, state: StateView, ctx: Context) -> Result:
        return Result.empty()

    def punctuate(self, state: StateView, ctx: Context) -> Result:
        key = f"p{ctx.partition}".encode()
        n = (state.get("ticks", key) or 0) + 1
        return Result(
            emits=(Emit("ticks", key, str(ctx.now_ms).encode()),), writes=(Put("ticks", key, n),)
        )


def test_should_fire_punctuation_on_each_due_interval_with_now_passed_in(tmp_path: Path) -> None:
    with TestDriver([_Ticker()], tmp_path, partitions=2, start_ms=10_000) as driver:
        first = driver.advance_time(0)
        assert [e.value for e in first] == [b"10000", b"10000"]
        assert driver.advance_time(500) == []
        second = driver.advance_time(500)
        assert [e.value for e in second] == [b"11000", b"11000"]
        assert driver.state("ticks", b"p0", partition=0) == 2
        assert driver.state("ticks", b"p1", partition=1) == 2
