"""incident_investigation v1: gather context on an alert, correlate deployments, write it up.

Paths (``[step]`` is the step command issued on arrival)::

    alert.fired                                       -> gathering_context [gather_context]
    gathering_context  step.completed:gather_context  -> waiting
    waiting  deployment.completed                     -> correlating [correlate_deployment]
    correlating  step.completed:correlate_deployment  -> waiting
    waiting  alert.resolved                           -> drafting_postmortem [draft_postmortem]
    drafting_postmortem  step.completed:draft_postmortem -> done

Correlation runs in its own state rather than as a self-loop on ``waiting`` so that only one
correlation runs at a time: a ``deployment.completed`` or ``alert.resolved`` that arrives while
context is gathered or a deployment is correlated is held and applied, in arrival order, once
the workflow is back in ``waiting``. A step that fails for good ends in ``failed``.
"""

from __future__ import annotations

from typing import Final

from examples.workflows import scripted
from workflows import START, StepSpec, Transition, WorkflowDefinition

_ALERT: Final = ("context.alert_id", "context.service", "context.name", "context.summary")

#: The steps, in plain Python (see ``scripted``); the postmortem draft is published as
#: ``postmortem.drafted`` for downstream consumers.
STEPS: Final = (
    *(StepSpec(name, (*_ALERT, "event.*"), scripted.Done, handler=scripted.done(name))
      for name in ("gather_context", "correlate_deployment")),
    StepSpec("draft_postmortem", (*_ALERT, "event.*"), scripted.Postmortem,
             handler=scripted.draft_postmortem, publishes="postmortem.drafted"),
)  # fmt: skip

INCIDENT_INVESTIGATION_V1: Final = WorkflowDefinition(
    name="incident_investigation",
    version=1,
    states=("gathering_context", "waiting", "correlating", "drafting_postmortem", "done", "failed"),
    start_events=("alert.fired",),
    terminal_states=("done", "failed"),
    transitions=(
        Transition("alert.fired", START, "gathering_context", step="gather_context"),
        Transition("step.completed:gather_context", "gathering_context", "waiting"),
        Transition("deployment.completed", "waiting", "correlating", step="correlate_deployment"),
        Transition("step.completed:correlate_deployment", "correlating", "waiting"),
        Transition("alert.resolved", "waiting", "drafting_postmortem", step="draft_postmortem"),
        Transition("step.completed:draft_postmortem", "drafting_postmortem", "done"),
    ),
    steps=STEPS,
)
