"""What the faust contenders (:mod:`bench.faust_app`, :mod:`bench.faust_pipeline_app`) share:
the app, its raw input and output topics, the table options and the start-up announcement,
configured by ``BENCH_*`` variables."""

from __future__ import annotations

import importlib.util
from typing import Any

import faust

from bench.apps import AppEnv

ROCKSDICT = importlib.util.find_spec("rocksdict") is not None
STORE = "rocksdb://" if ROCKSDICT else "memory://"
# RocksDB through rocksdict when it is installed, else an in-memory table.
TABLE_OPTIONS: dict[str, Any] = {"driver": "rocksdict"} if ROCKSDICT else {}


def make_app(env: AppEnv) -> tuple[faust.App, Any, Any]:
    """The faust app, its input topic and its output topic (raw bytes, str keys)."""
    app = faust.App(
        env.group,
        broker=f"kafka://{env.bootstrap}",
        broker_client_id=env.group,
        datadir=str(env.state_dir),
        store=STORE,
        topic_partitions=env.partitions,
        topic_replication_factor=1,
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=env.commit_interval_ms / 1000,
        processing_guarantee=env.guarantee,
        producer_acks=-1,
    )
    source = app.topic(env.input_topic, key_type=str, value_type=bytes, value_serializer="raw")
    sink = app.topic(env.output_topic, key_type=str, value_type=bytes, value_serializer="raw")

    @app.task  # type: ignore[untyped-decorator]
    async def announce() -> None:
        store = "rocksdb (rocksdict)" if ROCKSDICT else "memory"
        env.write_info({"guarantee": env.guarantee, "state": store})

    return app, source, sink
