"""A registry whose refund approvals need two approvers, for workers started with
``AGENTFLOW_WORKFLOWS=tests.integration.approval_flows:quorum_of_two``."""

from __future__ import annotations

from dataclasses import replace

from examples.workflows import EXAMPLE_DEFINITIONS
from workflows import DefinitionRegistry


def quorum_of_two() -> DefinitionRegistry:
    definitions = []
    for d in EXAMPLE_DEFINITIONS:
        steps = tuple(replace(a, quorum=2) for a in d.approval_steps)
        definitions.append(replace(d, approval_steps=steps) if d.name == "support_triage" else d)
    return DefinitionRegistry(definitions)
