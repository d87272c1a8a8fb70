"""What the Quix Streams contenders (:mod:`bench.quix_app`, :mod:`bench.quix_pipeline_app`)
share: one stateful ``apply`` from the input topic to the output topic, configured by
``BENCH_*`` variables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quixstreams import Application, State

from bench.apps import AppEnv


def run_stateful(step: Callable[[bytes, State[str, Any]], bytes]) -> None:
    """Run ``step`` on every input value with RocksDB state; its result goes to the output."""
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
    sdf = sdf.apply(step, stateful=True)
    sdf.to_topic(sink)
    env.write_info({"guarantee": guarantee, "state": "rocksdb"})
    app.run()
