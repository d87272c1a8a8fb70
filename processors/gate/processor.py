"""The gate as a processor on the stream host: ingress → workflow-events or quarantine."""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.contract import Context, Emit, Record, Result, StateView, TableSpec
from processors.events import workflow_event_headers
from processors.gate.gate import Accepted, Gate
from processors.partitioning import partition_for
from processors.quarantine import quarantine_emit
from processors.roles import EVENTS_ROLE, INGRESS_ROLE, QUARANTINE_ROLE

#: Where the gate writes: back to ingress (a re-routed record), events (admitted), quarantine.
GATE_OUTPUT_ROLES: tuple[str, ...] = (INGRESS_ROLE, EVENTS_ROLE, QUARANTINE_ROLE)


def misrouted(record: Record, ctx: Context) -> Emit | None:
    """A copy of ``record`` bound for the partition murmur2 gives its key, if it is elsewhere.

    Producers that hash keys with librdkafka's default CRC32 put a workflow's events on
    another partition than its state; such a record is moved, never processed where it landed.
    """
    if not record.key:
        return None
    home = partition_for(record.key, ctx.deployment.partitions)
    if home == record.partition:
        return None
    return Emit(record.role, record.key, record.value, record.headers, partition=home)


def admit(gate: Gate, record: Record, ctx: Context) -> tuple[Accepted | None, Result]:
    """Run the gate on ``record``: the accepted event (if any) and what to write for it."""
    moved = misrouted(record, ctx)
    if moved is not None:
        return None, Result(emits=(moved,))
    outcome = gate.check(record, ctx.now_ms)
    if isinstance(outcome, Accepted):
        event = outcome.event
        # When it was admitted: the time the orchestrator decides it at, live and in a replay.
        emit = Emit(EVENTS_ROLE, event.key, outcome.value, workflow_event_headers(ctx.now_ms))
        return outcome, Result(emits=(emit,))
    rejected = quarantine_emit(
        record, outcome.reason, outcome.detail, ctx, gate.version, outcome.event_id, outcome.tenant
    )
    return None, Result(emits=(rejected,))


@dataclass
class GateProcessor:
    """Validates ingress records on its own (the worker fuses it with the orchestrator)."""

    gate: Gate
    name: str = "gate"
    input_roles: tuple[str, ...] = (INGRESS_ROLE,)
    output_roles: tuple[str, ...] = GATE_OUTPUT_ROLES
    tables: tuple[TableSpec, ...] = field(default=())
    punctuate_interval_ms: int = 0

    def process(self, record: Record, state: StateView, ctx: Context) -> Result:
        _, result = admit(self.gate, record, ctx)
        return result

    def punctuate(self, state: StateView, ctx: Context) -> Result:
        return Result.empty()
