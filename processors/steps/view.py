"""A step's scoped view of its command's input, and its instructions rendered over it."""

from __future__ import annotations

from collections.abc import Mapping

from workflows import StepSpec
from workflows.steps import PLACEHOLDER


def scoped_view(spec: StepSpec, command_input: Mapping[str, str]) -> dict[str, str]:
    """The entries of ``command_input`` inside ``spec``'s view, in key order. Nothing else of
    the command (its other input, other workflows, other tenants) reaches the step."""
    return {key: command_input[key] for key in sorted(command_input) if spec.sees(key)}


def render_instructions(spec: StepSpec, view: Mapping[str, str]) -> str:
    """``spec.instructions`` with each ``{{key}}`` replaced by the view's value (empty when the
    command had none: an optional field, say). Declaration checks that every placeholder is
    inside the view, so rendering cannot leak anything else."""
    return PLACEHOLDER.sub(lambda m: view.get(m.group(1), ""), spec.instructions)
