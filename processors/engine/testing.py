"""Test helpers for the engine: event builders and a driver harness. Pure, like the engine.

:class:`EventFactory` makes valid envelopes for one workflow with sequential, deterministic ids
(``<workflow_id>/e<n>``), and builds ``step.completed``/``step.failed`` answers straight from a
:class:`~processors.engine.records.StepCommand`, the way a step worker would.
:class:`WorkflowHarness` pipes those events through a ``streams.driver.TestDriver`` running
:class:`~processors.engine.processor.OrchestratorProcessor` and decodes what comes out by role.
:class:`MemoryState` is a dict-backed state view for calling a processor directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Final, Protocol

from processors.contract import Delete, Emit, Put, Result, TableSpec, private_copy
from processors.engine.emits import WORKFLOWS
from processors.engine.records import (
    WORKFLOW_NOTICE,
    AuditRecord,
    StepCommand,
    WorkflowNotice,
    decode_notice,
    decode_step_command,
)
from processors.engine.state import WorkflowState
from processors.events import (
    Actor,
    AlertFiredPayloadV1,
    AlertFiredV1,
    AlertResolvedPayloadV1,
    AlertResolvedV1,
    ApprovalDecision,
    ApprovalDeniedV1,
    ApprovalGrantedV1,
    ApprovalRequestedV1,
    CustomerRepliedPayloadV1,
    CustomerRepliedV1,
    DeploymentCompletedPayloadV1,
    DeploymentCompletedV1,
    Envelope,
    StepCompletedPayloadV1,
    StepCompletedV1,
    StepFailedPayloadV1,
    StepFailedV1,
    TicketClosedPayloadV1,
    TicketClosedV1,
    TicketCreatedPayloadV1,
    TicketCreatedV1,
    decode,
    decode_record,
    encode,
)
from processors.roles import AUDIT_ROLE, EVENTS_ROLE, OUTPUTS_ROLE, QUARANTINE_ROLE, STEPS_ROLE

T0: Final = 1_718_000_000_000
CUSTOMER: Final = Actor(id="cust-1", kind="user", roles=["customer"])
WORKER: Final = Actor(id="step-worker", kind="service", roles=["agent"])
REVIEWER: Final = Actor(id="u-rev", kind="user", roles=["refund_approver"])
MONITOR: Final = Actor(id="alertmanager", kind="service", roles=["monitoring"])


class EventFactory:
    """Events of one workflow; each call takes the next id and a later ``occurred_at``."""

    def __init__(self, workflow_id: str, tenant: str = "acme", start_ms: int = T0) -> None:
        self.workflow_id = workflow_id
        self.tenant = tenant
        self.start_ms = start_ms
        self.count = 0

    def _env(self, actor: Actor, source: str = "test") -> dict[str, Any]:
        self.count += 1
        return {
            "event_id": f"{self.workflow_id}/e{self.count}",
            "occurred_at": self.start_ms + self.count * 1000,
            "source": source,
            "tenant": self.tenant,
            "actor": actor,
            "workflow_id": self.workflow_id,
        }

    def ticket_created(self, subject: str = "Charged twice") -> TicketCreatedV1:
        payload = TicketCreatedPayloadV1(
            ticket_id=f"T-{self.workflow_id}",
            subject=subject,
            body="Please help.",
            customer_id="cust-1",
        )
        return TicketCreatedV1(**self._env(CUSTOMER), payload=payload)

    def customer_replied(self, body: str = "Order 5521.") -> CustomerRepliedV1:
        payload = CustomerRepliedPayloadV1(
            ticket_id=f"T-{self.workflow_id}",
            customer_id="cust-1",
            message_id=f"m{self.count + 1}",
            body=body,
        )
        return CustomerRepliedV1(**self._env(CUSTOMER), payload=payload)

    def ticket_closed(self, resolution: str = "solved") -> TicketClosedV1:
        payload = TicketClosedPayloadV1(ticket_id=f"T-{self.workflow_id}", resolution=resolution)
        return TicketClosedV1(**self._env(CUSTOMER), payload=payload)

    def _decision(self, approval_id: str, step: str, decision: str) -> ApprovalDecision:
        return ApprovalDecision.model_validate(
            {
                "approval_id": approval_id,
                "step": step,
                "reviewer_id": REVIEWER.id,
                "decision": decision,
                "decided_at": self.start_ms + (self.count + 1) * 1000,
            }
        )

    def approval_granted(self, request: ApprovalRequestedV1) -> ApprovalGrantedV1:
        """Grant the approval ``request`` asked for."""
        answer = self._decision(request.payload.approval_id, request.payload.step, "granted")
        return ApprovalGrantedV1(**self._env(REVIEWER, "console"), payload=answer)

    def approval_denied(self, request: ApprovalRequestedV1) -> ApprovalDeniedV1:
        """Deny the approval ``request`` asked for."""
        answer = self._decision(request.payload.approval_id, request.payload.step, "denied")
        return ApprovalDeniedV1(**self._env(REVIEWER, "console"), payload=answer)

    def approval(
        self, approval_id: str, step: str, granted: bool = True
    ) -> ApprovalGrantedV1 | ApprovalDeniedV1:
        """An answer to an arbitrary approval id (to test refusals)."""
        if granted:
            answer = self._decision(approval_id, step, "granted")
            return ApprovalGrantedV1(**self._env(REVIEWER, "console"), payload=answer)
        answer = self._decision(approval_id, step, "denied")
        return ApprovalDeniedV1(**self._env(REVIEWER, "console"), payload=answer)

    def alert_fired(self) -> AlertFiredV1:
        payload = AlertFiredPayloadV1(
            alert_id="al-1",
            service="checkout",
            name="HighErrorRate",
            severity="critical",
            summary="5xx > 2%",
            started_at=self.start_ms,
        )
        return AlertFiredV1(**self._env(MONITOR, "ops"), payload=payload)

    def alert_resolved(self) -> AlertResolvedV1:
        payload = AlertResolvedPayloadV1(
            alert_id="al-1",
            service="checkout",
            name="HighErrorRate",
            resolved_at=self.start_ms + 60_000,
        )
        return AlertResolvedV1(**self._env(MONITOR, "ops"), payload=payload)

    def deployment_completed(self, version: str = "v2") -> DeploymentCompletedV1:
        payload = DeploymentCompletedPayloadV1(
            deployment_id=f"dep-{version}",
            service="checkout",
            version=version,
            environment="prod",
            status="succeeded",
            started_at=self.start_ms,
            finished_at=self.start_ms + 1,
        )
        return DeploymentCompletedV1(**self._env(MONITOR, "ops"), payload=payload)

    def step_completed(
        self, command: StepCommand, result: dict[str, Any] | None = None
    ) -> StepCompletedV1:
        """The worker's success answer to ``command``; ``result`` becomes ``result_json``."""
        payload = StepCompletedPayloadV1(
            step=command.step,
            command_id=command.command_id,
            attempt=command.attempt,
            result_json=json.dumps(result or {}, sort_keys=True),
        )
        env = self._env(WORKER, "agentflow")
        env["causation_id"] = command.causation_id
        return StepCompletedV1(**env, payload=payload)

    def step_failed(
        self, command: StepCommand, error_class: str = "transient", message: str = "timeout"
    ) -> StepFailedV1:
        """The worker's failure answer to ``command``."""
        payload = StepFailedPayloadV1.model_validate(
            {
                "step": command.step,
                "command_id": command.command_id,
                "attempt": command.attempt,
                "error_class": error_class,
                "error_message": message,
            }
        )
        env = self._env(WORKER, "agentflow")
        env["causation_id"] = command.causation_id
        return StepFailedV1(**env, payload=payload)


class MemoryState:
    """A dict-backed ``StateView`` over a processor's tables that applies a Result's writes
    like the host does, and like the host hands out private copies of what it holds."""

    def __init__(self, tables: Sequence[TableSpec]) -> None:
        self.codecs = {t.name: t.codec for t in tables}
        self.tables: dict[str, dict[bytes, Any]] = {t.name: {} for t in tables}

    def get(self, table: str, key: bytes) -> Any | None:
        value = self.tables[table].get(key)
        return None if value is None else private_copy(self.codecs[table], value)

    def range(self, table: str, start: bytes, end: bytes) -> Iterator[tuple[bytes, Any]]:
        held = self.tables[table]
        for key in sorted(held):
            if start <= key < end:
                yield key, private_copy(self.codecs[table], held[key])

    def apply(self, result: Result) -> None:
        for w in result.writes:
            if isinstance(w, Put):
                self.tables[w.table][w.key] = w.value
            elif isinstance(w, Delete):
                self.tables[w.table].pop(w.key, None)


class Driver(Protocol):
    """The part of ``streams.driver.TestDriver`` the harness uses (kept structural so this
    module stays free of the stream host's imports)."""

    def pipe(self, role: str, key: bytes | None, value: bytes | None) -> list[Emit]: ...

    def read(self, role: str) -> list[Emit]: ...

    def state(self, table: str, key: bytes) -> Any | None: ...


class WorkflowHarness:
    """Drives one workflow through a test driver running :class:`OrchestratorProcessor`:
    sends encoded events on ``events`` and decodes what came out, by role."""

    def __init__(self, driver: Driver, workflow_id: str, tenant: str = "acme") -> None:
        self.driver = driver
        self.workflow_id = workflow_id
        self.events = EventFactory(workflow_id, tenant)

    def send(self, event: Envelope) -> None:
        """Pipe ``event`` (Avro encoded, keyed by its workflow id) on role ``events``."""
        self.driver.pipe(EVENTS_ROLE, event.key, encode(event))

    def commands(self) -> list[StepCommand]:
        """Step commands emitted since the last call."""
        return [decode_step_command(e.value or b"") for e in self.driver.read(STEPS_ROLE)]

    def command(self) -> StepCommand:
        """The one step command emitted since the last call (fails if not exactly one)."""
        commands = self.commands()
        if len(commands) != 1:
            raise AssertionError(f"expected one step command, got {commands}")
        return commands[0]

    def outputs(self) -> list[Envelope | WorkflowNotice]:
        """Output events and notices emitted since the last call."""
        out: list[Envelope | WorkflowNotice] = []
        for emit in self.driver.read(OUTPUTS_ROLE):
            name, _ = decode_record(emit.value or b"")
            is_notice = name == WORKFLOW_NOTICE
            out.append(decode_notice(emit.value or b"") if is_notice else decode(emit.value or b""))
        return out

    def approval_request(self) -> ApprovalRequestedV1:
        """The one ``approval.requested`` emitted since the last call."""
        requests = [o for o in self.outputs() if isinstance(o, ApprovalRequestedV1)]
        if len(requests) != 1:
            raise AssertionError(f"expected one approval request, got {requests}")
        return requests[0]

    def audits(self) -> list[AuditRecord]:
        """Audit records emitted since the last call."""
        return [AuditRecord.decode(e.value or b"") for e in self.driver.read(AUDIT_ROLE)]

    def quarantined(self) -> list[dict[str, Any]]:
        """Quarantine records emitted since the last call, decoded."""
        return [decode_record(e.value or b"")[1] for e in self.driver.read(QUARANTINE_ROLE)]

    def timer_events(self) -> list[Envelope]:
        """``timer.fired`` events emitted to ``events`` since the last call."""
        return [decode(e.value or b"") for e in self.driver.read(EVENTS_ROLE)]

    def state(self) -> WorkflowState:
        value = self.driver.state(WORKFLOWS, self.workflow_id.encode())
        if not isinstance(value, WorkflowState):
            raise AssertionError(f"no state for {self.workflow_id}")
        return value
