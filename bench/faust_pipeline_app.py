"""Pipeline peer "faust": each event decoded, a per-workflow record read, changed and written
back in a faust Table, one output per event. Run as
``python -m bench.faust_pipeline_app worker -l warn``; configured by ``BENCH_*`` variables.

The same work as :mod:`bench.quix_pipeline_app`: :func:`processors.events.decode`, a JSON
record per ``workflow_id`` in a Table (RocksDB through rocksdict when installed, else memory),
the updated record sent under the same key.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import faust

from bench.apps import AppEnv
from processors.events import decode

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
# The workflow's record as JSON text; faust's own codec stores the str.
records = app.Table("workflows", default=str, key_type=str, value_type=str, options=table_options)


@app.agent(source)
async def step(stream: faust.StreamT[bytes]) -> None:
    async for key, value in stream.items():  # key: the workflow_id
        event = decode(value)
        raw = records[key]
        record: dict[str, Any] = (
            json.loads(raw) if raw else {"events": 0, "first_event_id": event.event_id}
        )
        record["events"] += 1
        record["last_event_id"] = event.event_id
        record["last_event_type"] = event.event_type
        record["updated_at"] = event.occurred_at
        text = json.dumps(record, separators=(",", ":"))
        records[key] = text
        await sink.send(key=key, value=text.encode())


@app.task  # type: ignore[untyped-decorator]
async def announce() -> None:
    store = "rocksdb (rocksdict)" if ROCKSDICT else "memory"
    env.write_info({"guarantee": env.guarantee, "state": store})


if __name__ == "__main__":
    app.main()
