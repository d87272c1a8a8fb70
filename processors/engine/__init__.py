"""The workflow engine: a pure orchestrator that runs :mod:`workflows` definitions.

:func:`decide` turns (workflow state, event) into a :class:`Decision`;
:class:`OrchestratorProcessor` runs it as a stream processor (role ``events`` in; ``steps``,
``outputs``, ``audit``, ``quarantine`` and, for fired deadlines, ``events`` out).
"""

from processors.engine.decide import decide, process_event, release_held
from processors.engine.decision import (
    REASON_CODES,
    Decision,
    Output,
    Rejection,
    TimerRef,
)
from processors.engine.emits import ENGINE_VERSION, TIMERS, WORKFLOWS
from processors.engine.ids import derive_id
from processors.engine.processor import OrchestratorProcessor
from processors.engine.records import (
    AUDIT_RECORD,
    STEP_COMMAND,
    WORKFLOW_NOTICE,
    AuditRecord,
    AuditTransition,
    DecisionKind,
    StepCommand,
    WorkflowNotice,
    decode_notice,
    decode_step_command,
)
from processors.engine.state import WORKFLOW_STATE, WorkflowState, WorkflowStateCodec, as_plain
from processors.engine.timers import TimerRefCodec, expire_on, fire_timer, hold_expiry_event
from processors.roles import AUDIT_ROLE, EVENTS_ROLE, OUTPUTS_ROLE, STEPS_ROLE

__all__ = [
    "AUDIT_RECORD",
    "AUDIT_ROLE",
    "ENGINE_VERSION",
    "EVENTS_ROLE",
    "OUTPUTS_ROLE",
    "REASON_CODES",
    "STEPS_ROLE",
    "STEP_COMMAND",
    "TIMERS",
    "WORKFLOWS",
    "WORKFLOW_NOTICE",
    "WORKFLOW_STATE",
    "AuditRecord",
    "AuditTransition",
    "Decision",
    "DecisionKind",
    "OrchestratorProcessor",
    "Output",
    "Rejection",
    "StepCommand",
    "TimerRef",
    "TimerRefCodec",
    "WorkflowNotice",
    "WorkflowState",
    "WorkflowStateCodec",
    "as_plain",
    "decide",
    "decode_notice",
    "decode_step_command",
    "derive_id",
    "expire_on",
    "fire_timer",
    "hold_expiry_event",
    "process_event",
    "release_held",
]
