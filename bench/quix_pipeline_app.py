"""Pipeline peer "quix": each event decoded, a per-workflow record read, changed and written
back in RocksDB state, one output per event. Run as ``python -m bench.quix_pipeline_app``.

The peer of ``agentflow worker`` on the same signed events: it decodes each event with
:func:`processors.events.decode` (fastavro + the pydantic event model, as the gate does), keeps
one JSON record per workflow (Quix's RocksDB state and its changelog topic; the state is keyed
by the message key, the ``workflow_id``) and emits the updated record under the same key. No
signature check, no policy, no workflow definition: the least a stateful Quix app on these
events does.
"""

from __future__ import annotations

import json
from typing import Any

from quixstreams import Application, State

from bench.apps import AppEnv
from processors.events import decode


def step(value: bytes, state: State[str, Any]) -> bytes:
    event = decode(value)
    record: dict[str, Any] = state.get("wf") or {"events": 0, "first_event_id": event.event_id}
    record["events"] += 1
    record["last_event_id"] = event.event_id
    record["last_event_type"] = event.event_type
    record["updated_at"] = event.occurred_at
    state.set("wf", record)
    return json.dumps(record, separators=(",", ":")).encode()


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
    sdf = sdf.apply(step, stateful=True)
    sdf.to_topic(sink)
    env.write_info({"guarantee": guarantee, "state": "rocksdb"})
    app.run()


if __name__ == "__main__":
    main()
