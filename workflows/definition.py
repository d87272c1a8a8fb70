"""Workflow definitions as code: states, the transitions between them, approvals and deadlines.

A definition is checked when it is constructed (see :mod:`workflows.validation`): a definition
object that exists is a valid one, so the engine never meets a malformed graph at run time.

    WorkflowDefinition(
        name="refunds", version=1,
        states=("reviewing", "done", "failed"),
        start_events=("ticket.created",),
        terminal_states=("done", "failed"),
        transitions=(
            Transition("ticket.created", START, "reviewing", step="review"),
            Transition("step.completed:review", "reviewing", "done"),
        ),
    )
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from workflows.steps import StepSpec, ToolSpec
from workflows.triggers import START, DefinitionError, Trigger, parse_trigger

DEFAULT_FAILED_STATE: Final = "failed"
DEFAULT_MAX_ATTEMPTS: Final = 3
DEFAULT_PENDING_TIMEOUT_MS: Final = 10 * 60_000


@dataclass(frozen=True, slots=True)
class Transition:
    """On ``on`` (a trigger, see :mod:`workflows.triggers`) in ``from_state``, move to
    ``to_state``; if ``step`` is set, issue a command for that step on arrival."""

    on: str
    from_state: str
    to_state: str
    step: str | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    """What a workflow's model steps may spend in all: tokens (input plus output) and/or US
    dollars (decimal text). The step result that takes the workflow past it moves it to
    ``exceeded_state`` (a terminal state of the definition) instead of its transition, so no
    further model step is issued. Counted from the usage in step results, once each."""

    max_tokens: int | None = None
    max_cost_usd: str | None = None
    exceeded_state: str = "budget_exceeded"


@dataclass(frozen=True, slots=True)
class ApprovalStep:
    """Entering ``state`` requests a human approval for ``step``.

    Only ``approval.granted``/``approval.denied`` answering that request (same approval id and
    step) are accepted there, from a reviewer with ``required_role`` who did not ask for it;
    ``quorum`` distinct approvers must grant it (see ``processors.engine.approvals``).
    ``deadline`` names a :class:`Deadline` of the same state whose due
    time is announced as the request's ``due_at``.
    """

    state: str
    step: str
    required_role: str
    deadline: str | None = None
    summary: str = ""
    #: Distinct approvers needed before it is granted (one denial ends it at once).
    quorum: int = 1

    def __post_init__(self) -> None:
        if self.quorum < 1:
            raise DefinitionError(f"approval of {self.step!r}: quorum must be at least 1")


@dataclass(frozen=True, slots=True)
class Deadline:
    """A durable timer armed on entering ``state`` and cancelled on leaving it; after
    ``after_ms`` it fires ``timer.fired:<name>``."""

    name: str
    state: str
    after_ms: int


@dataclass(frozen=True)
class WorkflowDefinition:
    """One version of a workflow. Construction validates it and raises
    :class:`~workflows.triggers.DefinitionError` naming the first problem found.

    ``failed_state`` (terminal) is where a workflow goes when a step fails for good and the
    current state has no ``step.failed:<step>`` transition. ``max_attempts`` counts the first
    try. ``pending_timeout_ms`` bounds how long an event that arrived too early is held.
    ``outcome_field`` is the field of a step's result document that ``step.completed:<step>:
    <outcome>`` triggers compare with.
    """

    name: str
    version: int
    states: tuple[str, ...]
    start_events: tuple[str, ...]
    terminal_states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    approval_steps: tuple[ApprovalStep, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    failed_state: str = DEFAULT_FAILED_STATE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    pending_timeout_ms: int = DEFAULT_PENDING_TIMEOUT_MS
    outcome_field: str = "outcome"
    #: The steps' declarations (see :mod:`workflows.steps`): none, or one for every step a
    #: transition issues. Without them, commands are for step workers of your own.
    steps: tuple[StepSpec, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    #: A spending limit over the workflow's model steps; None: no limit.
    budget: Budget | None = None
    # Indexes built once by validation; not part of equality.
    _by_state: Mapping[str, tuple[tuple[Trigger, Transition], ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _reachable: Mapping[str, frozenset[str]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        from workflows.validation import build_indexes, validate

        validate(self)
        by_state, reachable = build_indexes(self)
        object.__setattr__(self, "_by_state", by_state)
        object.__setattr__(self, "_reachable", reachable)

    @property
    def ident(self) -> str:
        """``name@version``, as written in audit records and errors."""
        return f"{self.name}@{self.version}"

    def is_terminal(self, state: str) -> bool:
        return state in self.terminal_states

    def match(self, state: str, keys: tuple[str, ...]) -> Transition | None:
        """The transition out of ``state`` whose trigger is one of ``keys`` (the trigger
        strings an event answers to, see ``processors.engine.matching``), or None.
        Validation guarantees at most one matches."""
        for trigger, transition in self._by_state.get(state, ()):
            if trigger.text in keys:
                return transition
        return None

    def accepts_later(self, state: str, keys: tuple[str, ...]) -> bool:
        """True if a state reachable from ``state`` (not ``state`` itself, unless via a
        cycle) has a transition matching ``keys``: the event may become valid later."""
        return any(self.match(s, keys) is not None for s in self._reachable.get(state, ()))

    def approval_for(self, state: str) -> ApprovalStep | None:
        return next((a for a in self.approval_steps if a.state == state), None)

    def deadlines_for(self, state: str) -> tuple[Deadline, ...]:
        return tuple(d for d in self.deadlines if d.state == state)

    def deadline(self, name: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.name == name), None)

    def step(self, name: str) -> StepSpec | None:
        """The declaration of step ``name``, or None."""
        return next((s for s in self.steps if s.name == name), None)

    def tool(self, name: str) -> ToolSpec | None:
        """The declaration of tool ``name``, or None."""
        return next((t for t in self.tools if t.name == name), None)


__all__ = [
    "DEFAULT_FAILED_STATE",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_PENDING_TIMEOUT_MS",
    "START",
    "ApprovalStep",
    "Budget",
    "Deadline",
    "Transition",
    "WorkflowDefinition",
    "parse_trigger",
]
