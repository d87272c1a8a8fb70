"""The language of workflow definitions: states, transitions, approvals, deadlines, and the
versioned registry that holds them. Declarations only; the example workflows live in
:mod:`examples.workflows`.

Pure: no Kafka, no clock. The engine (:mod:`processors.engine`) runs these definitions.
"""

from workflows.definition import (
    ApprovalStep,
    Budget,
    Deadline,
    Transition,
    WorkflowDefinition,
)
from workflows.registry import DefinitionRegistry
from workflows.schedules import CatchUp, Schedule
from workflows.steps import (
    TRANSIENT_ERRORS,
    Impact,
    StepHandler,
    StepOutput,
    StepSpec,
    Tools,
    ToolSpec,
)
from workflows.triggers import START, DefinitionError, Trigger, parse_trigger

__all__ = [
    "START",
    "TRANSIENT_ERRORS",
    "ApprovalStep",
    "Budget",
    "CatchUp",
    "Deadline",
    "DefinitionError",
    "DefinitionRegistry",
    "Impact",
    "Schedule",
    "StepHandler",
    "StepOutput",
    "StepSpec",
    "ToolSpec",
    "Tools",
    "Transition",
    "Trigger",
    "WorkflowDefinition",
    "parse_trigger",
]
