"""A candidate for ``agentflow replay --definitions``: the example definitions with one more
transition rule. support_triage takes a ``customer.replied`` while it drafts a reply (and
stays there) instead of refusing it once the ticket can no longer wait for one
(``tests.integration.replay_candidates:replies_while_drafting``). Of the test plans, exactly
the ``replied_first`` workflows decide otherwise."""

from __future__ import annotations

from dataclasses import replace

from examples.workflows import EXAMPLE_DEFINITIONS
from workflows import DefinitionRegistry, Transition

ADDED = Transition("customer.replied", "drafting_reply", "drafting_reply")


def replies_while_drafting() -> DefinitionRegistry:
    definitions = [
        replace(d, transitions=(*d.transitions, ADDED)) if d.name == "support_triage" else d
        for d in EXAMPLE_DEFINITIONS
    ]
    return DefinitionRegistry(definitions)


def redraft_on_reply() -> DefinitionRegistry:
    """As :func:`replies_while_drafting`, but the reply starts a new draft: a step history has
    no result for, so those workflows need a new step result."""
    added = Transition("customer.replied", "drafting_reply", "drafting_reply", "draft_reply")
    definitions = [
        replace(d, transitions=(*d.transitions, added)) if d.name == "support_triage" else d
        for d in EXAMPLE_DEFINITIONS
    ]
    return DefinitionRegistry(definitions)
