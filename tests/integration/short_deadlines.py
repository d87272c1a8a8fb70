"""Workflow definitions for timer tests, loaded by worker subprocesses through
``AGENTFLOW_WORKFLOWS=tests.integration.short_deadlines:registry``: the shipped definitions,
with support_triage's 48 h approval deadline cut to :data:`APPROVAL_DEADLINE_MS`."""

from __future__ import annotations

import dataclasses
from typing import Final

from examples.workflows import INCIDENT_INVESTIGATION_V1, SUPPORT_TRIAGE_V1
from workflows import Deadline, DefinitionRegistry, WorkflowDefinition

APPROVAL_DEADLINE_MS: Final = 4_000


def short_support_triage(after_ms: int = APPROVAL_DEADLINE_MS) -> WorkflowDefinition:
    """support_triage v1 with every deadline due ``after_ms`` after its state is entered
    (``replace`` builds a new definition, so it is validated again)."""
    deadlines = tuple(
        dataclasses.replace(d, after_ms=after_ms) for d in SUPPORT_TRIAGE_V1.deadlines
    )
    assert [d.name for d in deadlines] == ["approval_deadline"], deadlines
    assert isinstance(deadlines[0], Deadline)
    return dataclasses.replace(SUPPORT_TRIAGE_V1, deadlines=deadlines)


def registry() -> DefinitionRegistry:
    return DefinitionRegistry((short_support_triage(), INCIDENT_INVESTIGATION_V1))
