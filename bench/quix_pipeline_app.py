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

from quixstreams import State

from bench.quix_common import run_stateful
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
    run_stateful(step)


if __name__ == "__main__":
    main()
