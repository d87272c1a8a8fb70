"""Workflow definitions as code, their validation and the versioned registry.

Pure: no Kafka, no clock. The engine (:mod:`processors.engine`) runs these definitions.
"""

from workflows.definition import (
    START,
    ApprovalStep,
    Deadline,
    Transition,
    WorkflowDefinition,
)
from workflows.incident_investigation import INCIDENT_INVESTIGATION_V1
from workflows.registry import DefinitionRegistry
from workflows.support_triage import SUPPORT_TRIAGE_V1
from workflows.triggers import DefinitionError, Trigger, parse_trigger

BUILTIN_DEFINITIONS: tuple[WorkflowDefinition, ...] = (
    SUPPORT_TRIAGE_V1,
    INCIDENT_INVESTIGATION_V1,
)


def builtin_registry() -> DefinitionRegistry:
    """A fresh registry holding the shipped definitions (support_triage, incident_investigation)."""
    return DefinitionRegistry(BUILTIN_DEFINITIONS)


__all__ = [
    "BUILTIN_DEFINITIONS",
    "INCIDENT_INVESTIGATION_V1",
    "START",
    "SUPPORT_TRIAGE_V1",
    "ApprovalStep",
    "Deadline",
    "DefinitionError",
    "DefinitionRegistry",
    "Transition",
    "Trigger",
    "WorkflowDefinition",
    "builtin_registry",
    "parse_trigger",
]
