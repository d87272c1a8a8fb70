"""Contender "quix": the per-key counter as a Quix Streams app with RocksDB state.

For each input record it reads the key's count from the RocksDB-backed state, adds one,
writes it back and emits ``<value>|<count>`` under the same key: the same read-modify-write as
:class:`examples.counter.CounterProcessor`. Quix keeps a changelog topic of its own
(``changelog__<group>--<topic>--default``). Run as ``python -m bench.quix_app``.
"""

from __future__ import annotations

from quixstreams import State

from bench.quix_common import run_stateful


def count(value: bytes, state: State[str, int]) -> bytes:
    n: int = state.get("n", 0) + 1
    state.set("n", n)
    return value + b"|" + str(n).encode()


def main() -> None:
    run_stateful(count)


if __name__ == "__main__":
    main()
