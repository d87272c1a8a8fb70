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
from processors.events import (
    ApprovalRequestedV1,
    Envelope,
    decided_at_header,
    decode,
    decode_record,
    encode,
)
from processors.roles import AUDIT_ROLE, EVENTS_ROLE, OUTPUTS_ROLE, QUARANTINE_ROLE, STEPS_ROLE
from replay.shadow import ShadowRun
from streams.driver import TestDriver


class WorkflowHarness:
    """Drives one workflow through a test driver running :class:`OrchestratorProcessor`:
    sends encoded events on ``events`` and decodes what came out, by role."""

    def __init__(self, driver: TestDriver, workflow_id: str, tenant: str = "acme") -> None:
        self.driver = driver
        self.workflow_id = workflow_id
        self.events = EventFactory(workflow_id, tenant)

    def send(self, event: Envelope) -> None:
        """Pipe ``event`` (Avro encoded, keyed by its workflow id) on role ``events``, stamped
        with the driver's time as the gate stamps what it admits (``af-decided-at``)."""
        headers = (decided_at_header(self.driver.now_ms),)
        self.driver.pipe(EVENTS_ROLE, event.key, encode(event), headers)

    def assert_replays_identically(self) -> int:
        """Replay the driver's ``events`` log (what it was sent, and the ``timer.fired`` events
        the engine made) through a fresh orchestrator over a shadow state, as ``agentflow
        replay`` does, and fail unless every audit record equals the live one, byte for byte.
        Returns how many audit records were compared."""
        processors = [p for p in self.driver.processors if EVENTS_ROLE in p.input_roles]
        live = [r.value for r in self.driver.topic_log(AUDIT_ROLE)]
        replayed: list[bytes | None] = []
        with ShadowRun(processors, self.driver.deployment) as shadow:
            for record in self.driver.topic_log(EVENTS_ROLE):
                replayed += [e.value for e in shadow.feed(record) if e.role == AUDIT_ROLE]
        for n, (was, now) in enumerate(zip(live, replayed, strict=False)):
            if was != now:
                first = AuditRecord.decode(was or b""), AuditRecord.decode(now or b"")
                raise AssertionError(f"audit record {n} differs on replay: {first}")
        if len(live) != len(replayed):
            raise AssertionError(f"{len(live)} audit records live, {len(replayed)} on replay")
        return len(live)

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
