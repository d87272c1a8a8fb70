"""A faust worker that counts events per key in a RocksDB (rocksdict) table.

Every event on ``AF_TOPIC`` adds one to ``counts[key]``. After each event, and every half
second once table recovery has completed, the worker rewrites ``AF_RESULT`` with the table's
contents as it sees them, how many events this process handled, whether recovery is done and
which store backs the table, so a test can tell restored state from re-processed input. (The
timer lets a restarted worker show its restored table without new input: in CI, a restarted
faust worker once came up ready but never handed freshly produced records to its agent.)

Environment: ``AF_BROKER``, ``AF_APP_ID``, ``AF_TOPIC``, ``AF_PARTITIONS``, ``AF_DATA_DIR``,
``AF_RESULT``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import faust
import rocksdict

from tests.integration.faust_apps._harness import write_json_atomically

TABLE = "counts"

app = faust.App(
    os.environ["AF_APP_ID"],
    broker=f"kafka://{os.environ['AF_BROKER']}",
    broker_client_id=os.environ["AF_APP_ID"],
    datadir=os.environ["AF_DATA_DIR"],
    store="rocksdb://",
    topic_partitions=int(os.environ["AF_PARTITIONS"]),
    topic_replication_factor=1,
    web_enabled=False,
    autodiscover=False,
    consumer_auto_offset_reset="earliest",
    # A SIGKILLed member stays in the group until its session times out; keep that short.
    broker_session_timeout=8.0,
    broker_heartbeat_interval=1.0,
    # Also the group's rebalance timeout: how long a join may wait for members to rejoin.
    broker_rebalance_timeout=20.0,
    broker_commit_interval=0.5,
)
source = app.topic(os.environ["AF_TOPIC"], key_type=str, value_type=bytes, value_serializer="raw")
counts = app.Table(
    TABLE, default=int, key_type=str, value_type=int, options={"driver": "rocksdict"}
)
result_path = Path(os.environ["AF_RESULT"])
handled = {"events": 0}


def _store_description() -> dict[str, object]:
    store = counts.data
    dbs = getattr(store, "_dbs", {})
    return {
        "store_class": f"{type(store).__module__}.{type(store).__qualname__}",
        "use_rocksdict": bool(getattr(store, "use_rocksdict", False)),
        "db_partitions": sorted(dbs),
        "dbs_are_rocksdict": bool(dbs)
        and all(isinstance(db, rocksdict.Rdict) for db in dbs.values()),
    }


def _dump() -> None:
    write_json_atomically(
        result_path,
        {
            "counts": {k: v for k, v in counts.items()},
            "handled": handled,
            "recovered": _recovered(),
            "changelog_topic": counts.changelog_topic.get_topic_name(),
            **_store_description(),
        },
    )


@app.agent(source)
async def count(stream: faust.StreamT[bytes]) -> None:
    async for key, _value in stream.items():
        handled["events"] += 1
        counts[key] += 1
        _dump()


def _recovered() -> bool:
    # TableManagerT does not declare the manager's recovery attribute.
    tables: Any = app.tables
    return bool(tables.recovery.completed.is_set())


@app.timer(interval=0.5)  # type: ignore[untyped-decorator]
async def dump_once_recovered() -> None:
    if _recovered():
        _dump()


if __name__ == "__main__":
    app.main()
