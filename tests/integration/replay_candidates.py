"""A candidate for ``agentflow replay --definitions``: the example definitions with one more
transition rule. support_triage takes a ``customer.replied`` while it drafts a reply (and
stays there) instead of refusing it once the ticket can no longer wait for one
(``tests.integration.replay_candidates:replies_while_drafting``). Of the test plans, exactly
the ``replied_first`` workflows decide otherwise."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from examples.workflows import EXAMPLE_DEFINITIONS
from examples.workflows.scripted import Classification
from examples.workflows.support_triage import STEPS
from workflows import DefinitionRegistry, StepSpec, Tools, Transition, WorkflowDefinition

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


#: ``pausing`` writes this file and waits when its replay reaches :data:`PAUSE_AT`.
PAUSE_FILE_ENV = "AGENTFLOW_TEST_REPLAY_PAUSE_FILE"
#: The lookup of a running workflow's definition (one per event after a start) it pauses at.
PAUSE_AT = 100


class _PausingRegistry(DefinitionRegistry):
    """Pauses the replay in mid-history so a test can aim its Ctrl-C there: a signal sent
    from outside by timing would land before the first event or after the last."""

    lookups = 0

    def get(self, name: str, version: int) -> WorkflowDefinition | None:
        self.lookups += 1
        if self.lookups == PAUSE_AT:
            Path(os.environ[PAUSE_FILE_ENV]).write_text(str(self.lookups))
            time.sleep(120)  # the test's SIGINT ends this
        return super().get(name, version)


def pausing() -> DefinitionRegistry:
    """The example definitions, unchanged, in a registry that pauses (see above)."""
    return _PausingRegistry(EXAMPLE_DEFINITIONS)


def _always_low_risk(view: Mapping[str, str], tools: Tools) -> Classification:
    return Classification(outcome="low_risk", confidence="high")


def classify_all_low_risk() -> list[StepSpec]:
    """For ``--steps``: support_triage's classify, in plain Python, that never spots a refund
    (a regressed prompt, say). Of the test plans, exactly the ``refund`` tickets now take
    another path: a reply is drafted, a step history never ran for them."""
    classify = next(s for s in STEPS if s.name == "classify")
    return [replace(classify, model=None, instructions="", handler=_always_low_risk)]
