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
from workflows import START, StepSpec, ToolSpec, Transition, WorkflowDefinition

_ALERT: Final = ("context.alert_id", "context.service", "context.name", "context.summary")

#: What monitoring says of a service: a ``read`` tool (``examples/services/status.py``).
SERVICE_STATUS: Final = ToolSpec(
    "service_status",
    scripted.ServiceQuery,
    scripted.ServiceStatus,
    impact="read",
    description="The status, error rate and recent deployments of a service.",
)

#: The steps, in plain Python (see ``scripted``): gather_context asks the status API through
#: its ``read`` tool; the postmortem draft is published as ``postmortem.drafted``.
STEPS: Final = (
    StepSpec("gather_context", (*_ALERT, "event.*"), scripted.Done, tools=("service_status",),
             handler=scripted.gather_context),
    StepSpec("correlate_deployment", (*_ALERT, "event.*"), scripted.Done,
             handler=scripted.done("correlate_deployment")),
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
    tools=(SERVICE_STATUS,),
)
