"""A faust worker that records every event of one topic (key, value, partition, offset).

Environment: ``AF_BROKER`` (host:port), ``AF_APP_ID``, ``AF_TOPIC``, ``AF_PARTITIONS``,
``AF_DATA_DIR`` and ``AF_RESULT`` (a JSON file, rewritten after each event).
"""

from __future__ import annotations

import os
from pathlib import Path

import faust

from tests.integration.faust_apps._harness import write_json_atomically

app = faust.App(
    os.environ["AF_APP_ID"],
    broker=f"kafka://{os.environ['AF_BROKER']}",
    broker_client_id=os.environ["AF_APP_ID"],
    datadir=os.environ["AF_DATA_DIR"],
    topic_partitions=int(os.environ["AF_PARTITIONS"]),
    topic_replication_factor=1,
    web_enabled=False,
    autodiscover=False,
    consumer_auto_offset_reset="earliest",
)
source = app.topic(os.environ["AF_TOPIC"], key_type=bytes, value_type=bytes, value_serializer="raw")
result_path = Path(os.environ["AF_RESULT"])
received: list[dict[str, object]] = []


@app.agent(source)
async def record(stream: faust.StreamT[bytes]) -> None:
    async for event in stream.events():
        message = event.message
        received.append(
            {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "key": event.key.decode() if event.key is not None else None,
                "value": event.value.decode(),
                "headers": {k: v.decode() for k, v in (message.headers or [])},
            }
        )
        write_json_atomically(result_path, received)


if __name__ == "__main__":
    app.main()
