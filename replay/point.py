"""A workflow's state as it was at a point in time, rebuilt from the log.

Reads the workflow-events partition that holds the workflow, from its beginning to the point
(the time events were decided at, or an offset of that partition), feeds the workflow's own
records to the processors over a shadow state, and returns the state they leave. Since every
decision is a function of the log, that is the state the live run had then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from processors.contract import Processor
from processors.deployment import Deployment
from processors.events import decided_at
from processors.partitioning import partition_for
from processors.roles import EVENTS_ROLE
from replay.reader import ReplayError, read_records, topic_ends
from replay.shadow import ShadowRun


def state_at(
    client_config: Mapping[str, Any],
    deployment: Deployment,
    processors: Sequence[Processor],
    table: str,
    workflow_id: str,
    at_ms: int | None = None,
    at_offset: int | None = None,
) -> tuple[Any | None, int]:
    """The value of ``workflow_id`` in ``table`` after every event decided at or before
    ``at_ms`` (or read at or before ``at_offset`` of its workflow-events partition), and how
    many of its events that took. Exactly one of ``at_ms`` and ``at_offset`` is given."""
    if (at_ms is None) == (at_offset is None):
        raise ReplayError("give a time or an offset to rebuild the state at, not both")
    key = workflow_id.encode()
    topic = deployment.topic(EVENTS_ROLE)
    ends = topic_ends(client_config, topic)
    partition = partition_for(key, len(ends.high))
    mine = replace(
        ends, low={partition: ends.low[partition]}, high={partition: ends.high[partition]}
    )
    applied = 0
    with ShadowRun(processors, deployment) as shadow:
        for record in read_records(client_config, mine, EVENTS_ROLE):
            if at_offset is not None and record.offset > at_offset:
                break
            at = decided_at(record.headers) or record.timestamp_ms
            if at_ms is not None and at > at_ms:
                break
            if record.key == key:
                shadow.feed(record)
                applied += 1
        return shadow.state(partition).get(table, key), applied
