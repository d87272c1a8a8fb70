"""Pipeline peer "faust": each event decoded, a per-workflow record read, changed and written
back in a faust Table, one output per event. Run as
``python -m bench.faust_pipeline_app worker -l warn``; configured by ``BENCH_*`` variables.

The same work as :mod:`bench.quix_pipeline_app`: :func:`processors.events.decode`, a JSON
record per ``workflow_id`` in a Table (RocksDB through rocksdict when installed, else memory),
the updated record sent under the same key.
"""

from __future__ import annotations

import json
from typing import Any

import faust

from bench.apps import AppEnv
from bench.faust_common import TABLE_OPTIONS, make_app
from processors.events import decode

env = AppEnv.from_environ()
app, source, sink = make_app(env)
# The workflow's record as JSON text; faust's own codec stores the str.
records = app.Table("workflows", default=str, key_type=str, value_type=str, options=TABLE_OPTIONS)


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


if __name__ == "__main__":
    app.main()
