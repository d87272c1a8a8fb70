"""Contender "faust": the per-key counter as a faust-streaming agent with a faust Table.

Each input record adds one to ``counts[key]`` (RocksDB through rocksdict when it is installed,
else an in-memory table) and sends ``<value>|<count>`` under the same key to the output topic.
Run as ``python -m bench.faust_app worker -l warn``; configured by ``BENCH_*`` variables.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import faust

from bench.apps import AppEnv

env = AppEnv.from_environ()
ROCKSDICT = importlib.util.find_spec("rocksdict") is not None
STORE = "rocksdb://" if ROCKSDICT else "memory://"

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
table_options: dict[str, Any] = {"driver": "rocksdict"} if ROCKSDICT else {}
counts = app.Table("counts", default=int, key_type=str, value_type=int, options=table_options)


@app.agent(source)
async def count(stream: faust.StreamT[bytes]) -> None:
    async for key, value in stream.items():
        n = counts[key] + 1
        counts[key] = n
        await sink.send(key=key, value=value + b"|" + str(n).encode())


@app.task  # type: ignore[untyped-decorator]
async def announce() -> None:
    store = "rocksdb (rocksdict)" if ROCKSDICT else "memory"
    env.write_info({"guarantee": env.guarantee, "state": store})


if __name__ == "__main__":
    app.main()
