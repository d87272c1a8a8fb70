"""The example workflows: support_triage and incident_investigation.

``AGENTFLOW_WORKFLOWS=examples.workflows:example_registry`` (the default) runs them.
"""

from examples.workflows.incident_investigation import INCIDENT_INVESTIGATION_V1
from examples.workflows.support_triage import SUPPORT_TRIAGE_V1
from workflows import DefinitionRegistry, WorkflowDefinition

EXAMPLE_DEFINITIONS: tuple[WorkflowDefinition, ...] = (
    SUPPORT_TRIAGE_V1,
    INCIDENT_INVESTIGATION_V1,
)


def example_registry() -> DefinitionRegistry:
    """A fresh registry holding the example definitions."""
    return DefinitionRegistry(EXAMPLE_DEFINITIONS)


__all__ = [
    "EXAMPLE_DEFINITIONS",
    "INCIDENT_INVESTIGATION_V1",
    "SUPPORT_TRIAGE_V1",
    "example_registry",
]
