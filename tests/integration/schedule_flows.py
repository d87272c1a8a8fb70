"""Registries with schedules, for tests and for workers started with
``AGENTFLOW_WORKFLOWS=tests.integration.schedule_flows:every_second``: a schedule that ticks
every second (one per catch-up policy) and a one-step workflow each tick starts."""

from __future__ import annotations

from examples.workflows import EXAMPLE_DEFINITIONS
from workflows import (
    START,
    CatchUp,
    DefinitionRegistry,
    Schedule,
    Transition,
    WorkflowDefinition,
)

#: Every second (croniter's sixth field is seconds).
EVERY_SECOND = "* * * * * *"
POLICIES: tuple[CatchUp, ...] = ("all", "latest", "none")


def schedule_named(policy: CatchUp) -> str:
    return f"tick_{policy}"


def _ticker(name: str) -> WorkflowDefinition:
    trigger = f"schedule.fired:{name}"
    return WorkflowDefinition(
        name=f"{name}_run",
        version=1,
        states=("done",),
        start_events=(trigger,),
        terminal_states=("done",),
        failed_state="done",
        transitions=(Transition(trigger, START, "done"),),
    )


def registry(window_s: int = 3600) -> DefinitionRegistry:
    """The example definitions, and one every-second schedule (with its workflow) per
    catch-up policy, all of tenant ``acme``."""
    schedules = [
        Schedule(
            schedule_named(p),
            EVERY_SECOND,
            "acme",
            catch_up=p,
            catch_up_window_s=window_s,
            data={"policy": p},
        )
        for p in POLICIES
    ]
    tickers = [_ticker(s.name) for s in schedules]
    return DefinitionRegistry([*EXAMPLE_DEFINITIONS, *tickers], schedules=schedules)


def every_second() -> DefinitionRegistry:
    return registry()
