"""The worker's processor: the validation gate fused with the orchestrator, in one pass.

A record from ingress goes through the gate. A rejected one goes to quarantine. A validated
event is written to the workflow-events topic, which stays the ordered history of record that
replay reads, and goes straight on to the orchestrator in the same transaction. Ingress and
workflow-events are co-partitioned by ``workflow_id``, so per-workflow order holds end to end.

With a :class:`~processors.schedules.Scheduler`, each punctuation also fires the schedules'
due ticks (to ingress, signed), and a ``schedule.control`` event pauses or resumes one.
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.contract import Context, Record, Result, StateView, TableSpec
from processors.engine import OrchestratorProcessor
from processors.events import ScheduleControlV1
from processors.gate import GATE_OUTPUT_ROLES, INGRESS_ROLE, Gate, admit
from processors.schedules import SCHEDULES, Scheduler


@dataclass
class WorkflowPipeline:
    """Gate, then orchestrator, for every ingress record; the orchestrator's timers on ticks."""

    gate: Gate
    orchestrator: OrchestratorProcessor
    scheduler: Scheduler | None = None
    name: str = "pipeline"
    input_roles: tuple[str, ...] = (INGRESS_ROLE,)

    @property
    def output_roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(GATE_OUTPUT_ROLES + self.orchestrator.output_roles))

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        extra = (SCHEDULES,) if self.scheduler is not None else ()
        return self.orchestrator.tables + extra

    @property
    def punctuate_interval_ms(self) -> int:
        return self.orchestrator.punctuate_interval_ms

    def process(self, record: Record, state: StateView, ctx: Context) -> Result:
        accepted, gated = admit(self.gate, record, ctx)
        if accepted is None:
            return gated
        if isinstance(accepted.event, ScheduleControlV1) and self.scheduler is not None:
            # An instruction to this worker, not a workflow's event: not written to history.
            return self.scheduler.control(accepted.event, state)
        decided = self.orchestrator.handle(accepted.event, record, state, ctx)
        return Result(emits=gated.emits + decided.emits, writes=decided.writes)

    def punctuate(self, state: StateView, ctx: Context) -> Result:
        timers = self.orchestrator.punctuate(state, ctx)
        if self.scheduler is None:
            return timers
        fired = self.scheduler.tick(state, ctx)
        return Result(emits=timers.emits + fired.emits, writes=timers.writes + fired.writes)
