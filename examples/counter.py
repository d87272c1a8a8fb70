"""A per-key counter: the smallest stateful processor, used by tests and the bench.

For each record on role ``input`` it adds one to the key's count in table ``counts`` and emits
``<input value>|<new count>`` to role ``output`` under the same key. Records without a key are
counted under the empty key.
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.codecs import IntCodec
from processors.contract import Context, Emit, Put, Record, Result, StateView, TableSpec

COUNTS = "counts"


@dataclass
class CounterProcessor:
    name: str = "counter"
    input_roles: tuple[str, ...] = ("input",)
    output_roles: tuple[str, ...] = ("output",)
    tables: tuple[TableSpec, ...] = (TableSpec(COUNTS, IntCodec()),)
    punctuate_interval_ms: int = 0

    def process(self, record: Record, state: StateView, ctx: Context) -> Result:
        key = record.key or b""
        count = (state.get(COUNTS, key) or 0) + 1
        value = (record.value or b"") + b"|" + str(count).encode()
        return Result(
            emits=(Emit(self.output_roles[0], key, value),),
            writes=(Put(COUNTS, key, count),),
        )

    def punctuate(self, state: StateView, ctx: Context) -> Result:
        return Result.empty()
