"""Contender "quix": the per-key counter as a Quix Streams app with RocksDB state.

For each input record it reads the key's count from the RocksDB-backed state, adds one,
writes it back and emits ``<value>|<count>`` under the same key: the same read-modify-write as
:class:`processors.examples.counter.CounterProcessor`. Quix keeps a changelog topic of its own
(``changelog__<group>--<topic>--default``). Run as ``python -m bench.quix_app``.
"""

from __future__ import annotations

from typing import Any

from quixstreams import Application, State

from bench.apps import AppEnv


def count(value: bytes, state: State[str, int]) -> bytes:
    n: int = state.get("n", 0) + 1
    state.set("n", n)
    return value + b"|" + str(n).encode()


def main() -> None:
    env = AppEnv.from_environ()
    guarantee: Any = env.guarantee  # "exactly-once" or "at-least-once"
    app = Application(
        broker_address=env.bootstrap,
        consumer_group=env.group,
        auto_offset_reset="earliest",
        commit_interval=env.commit_interval_ms / 1000,
        state_dir=str(env.state_dir),
        processing_guarantee=guarantee,
        loglevel="WARNING",
    )
    source = app.topic(env.input_topic, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(env.output_topic, key_serializer="bytes", value_serializer="bytes")
    sdf = app.dataframe(source)
    sdf = sdf.apply(count, stateful=True)
    sdf.to_topic(sink)
    env.write_info({"guarantee": guarantee, "state": "rocksdb"})
    app.run()


if __name__ == "__main__":
    main()
