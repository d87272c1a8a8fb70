"""WorkflowHarness: drives one workflow through a :class:`~streams.driver.TestDriver` running
the orchestrator, and decodes what comes out by role."""

from __future__ import annotations

from typing import Any

from agentflow.testing.events import EventFactory
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
from processors.events import ApprovalRequestedV1, Envelope, decode, decode_record, encode
from processors.roles import AUDIT_ROLE, EVENTS_ROLE, OUTPUTS_ROLE, QUARANTINE_ROLE, STEPS_ROLE
from streams.driver import TestDriver


class WorkflowHarness:
    """Drives one workflow through a test driver running :class:`OrchestratorProcessor`:
    sends encoded events on ``events`` and decodes what came out, by role."""

    def __init__(self, driver: TestDriver, workflow_id: str, tenant: str = "acme") -> None:
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
