"""Contender "faust": the per-key counter as a faust-streaming agent with a faust Table.

Each input record adds one to ``counts[key]`` (RocksDB through rocksdict when it is installed,
else an in-memory table) and sends ``<value>|<count>`` under the same key to the output topic.
Run as ``python -m bench.faust_app worker -l warn``; configured by ``BENCH_*`` variables.
"""

from __future__ import annotations

import faust

from bench.apps import AppEnv
from bench.faust_common import TABLE_OPTIONS, make_app

env = AppEnv.from_environ()
app, source, sink = make_app(env)
counts = app.Table("counts", default=int, key_type=str, value_type=int, options=TABLE_OPTIONS)


@app.agent(source)
async def count(stream: faust.StreamT[bytes]) -> None:
    async for key, value in stream.items():
        n = counts[key] + 1
        counts[key] = n
        await sink.send(key=key, value=value + b"|" + str(n).encode())


if __name__ == "__main__":
    app.main()
