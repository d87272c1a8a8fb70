"""Replay through the gate: ingress history against a (candidate) gate, diffed per record.

Each ingress record up to the topic's end at the start gets the gate's verdict again:
``admitted``, ``moved`` (to its key's partition) or ``quarantined:<reason>``. The recorded
verdict is read from the quarantine topic: a record the gate quarantined has a quarantine
record naming its ingress partition and offset; any other was admitted or moved. The diff
names every record whose verdict would now differ, so a candidate policy (one more revoked
key, a tighter size limit) can be tried on real history before it ships. Nothing is produced.

A record is checked at the time the gate decided it live when the quarantine record says so,
else at its timestamp (when it was produced): freshness checks can differ from live by the
worker's lag.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from processors.contract import Context, Record
from processors.deployment import Deployment
from processors.gate import Accepted, Gate, misrouted
from processors.gate.gate import GATE_VERSION
from processors.quarantine import read_quarantine
from processors.roles import INGRESS_ROLE, QUARANTINE_ROLE
from replay.reader import read_records, topic_ends

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GateChange:
    """One ingress record whose verdict would differ."""

    partition: int
    offset: int
    workflow_id: str | None
    event_id: str | None
    recorded: str
    replayed: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "workflow_id": self.workflow_id,
            "event_id": self.event_id,
            "recorded": self.recorded,
            "replayed": self.replayed,
            "detail": self.detail,
        }


@dataclass
class GateReplayResult:
    records: int = 0
    unchanged: int = 0
    changes: list[GateChange] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def now_quarantined(self) -> list[GateChange]:
        """Admitted (or moved) then, quarantined now."""
        return [c for c in self.changes if c.replayed.startswith("quarantined")
                and not c.recorded.startswith("quarantined")]  # fmt: skip

    @property
    def now_admitted(self) -> list[GateChange]:
        """Quarantined then, admitted now."""
        return [c for c in self.changes if c.recorded.startswith("quarantined")
                and not c.replayed.startswith("quarantined")]  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "through_gate": True,
            "records": self.records,
            "totals": {
                "unchanged": self.unchanged,
                "changed": len(self.changes),
                "now_quarantined": len(self.now_quarantined),
                "now_admitted": len(self.now_admitted),
            },
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "changes": [c.as_dict() for c in self.changes],
        }


def _recorded(
    config: Mapping[str, Any], deployment: Deployment
) -> dict[tuple[int, int], tuple[str, int]]:
    """(ingress partition, offset) -> (reason, decided at) of what the gate quarantined."""
    ingress = deployment.topic(INGRESS_ROLE)
    out: dict[tuple[int, int], tuple[str, int]] = {}
    ends = topic_ends(config, deployment.topic(QUARANTINE_ROLE))
    for record in read_records(config, ends, QUARANTINE_ROLE):
        if not record.value:
            continue
        q = read_quarantine(record.value)
        if q["original_topic"] == ingress and str(q["quarantined_by"]).startswith(GATE_VERSION):
            out[(q["original_partition"], q["original_offset"])] = (
                q["reason"], q["quarantined_at"],
            )  # fmt: skip
    return out


def replay_gate(
    config: Mapping[str, Any],
    deployment: Deployment,
    gate: Gate,
    workflow_ids: frozenset[str] = frozenset(),
    progress: Progress | None = None,
) -> GateReplayResult:
    """Every ingress record's verdict from ``gate``, against the recorded one."""
    started = time.monotonic()
    result = GateReplayResult()
    recorded = _recorded(config, deployment)
    ends = topic_ends(config, deployment.topic(INGRESS_ROLE))
    try:
        for record in read_records(config, ends, INGRESS_ROLE):
            result.records += 1
            if progress is not None and result.records % 500 == 0:
                progress(result.records, ends.records)
            key = record.key.decode(errors="replace") if record.key is not None else None
            if workflow_ids and key not in workflow_ids:
                continue
            was = recorded.get((record.partition, record.offset))
            now_ms = was[1] if was is not None else record.timestamp_ms
            then = f"quarantined:{was[0]}" if was is not None else "admitted"
            verdict, event_id, detail = _verdict(gate, record, deployment, now_ms)
            if then == "admitted" and verdict == "moved":
                then = "moved"  # a moved record leaves no quarantine record either
            if verdict == then:
                result.unchanged += 1
            else:
                change = GateChange(record.partition, record.offset, key, event_id, then,
                                    verdict, detail)  # fmt: skip
                result.changes.append(change)
    except KeyboardInterrupt:
        result.interrupted = True
    result.seconds = time.monotonic() - started
    return result


def _verdict(
    gate: Gate, record: Record, deployment: Deployment, now_ms: int
) -> tuple[str, str | None, str]:
    ctx = Context(now_ms, record.partition, deployment)
    if misrouted(record, ctx) is not None:
        return "moved", None, ""
    outcome = gate.check(record, now_ms)
    if isinstance(outcome, Accepted):
        return "admitted", outcome.event.event_id, ""
    return f"quarantined:{outcome.reason}", outcome.event_id, outcome.detail
