"""The checks a workflow definition must pass before it exists, and the indexes built from it.

Each check raises :class:`~workflows.triggers.DefinitionError` with a message that starts with
``workflow <name>@<version>:`` and names the offending state, transition or trigger, so a bad
definition fails at import time with an actionable message instead of misrouting events later.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from avro_schemas import event_types
from workflows.steps import check_steps
from workflows.triggers import (
    APPROVAL_DENIED,
    APPROVAL_GRANTED,
    QUALIFIED_TYPES,
    SCHEDULE_FIRED,
    START,
    DefinitionError,
    Trigger,
    is_name,
    parse_trigger,
)

if TYPE_CHECKING:
    from workflows.definition import Transition, WorkflowDefinition

_KNOWN_EVENT_TYPES = event_types()


def _fail(d: WorkflowDefinition, problem: str) -> DefinitionError:
    return DefinitionError(f"workflow {d.name}@{d.version}: {problem}")


def _unique_names(d: WorkflowDefinition, what: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not is_name(name):
            raise _fail(d, f"{what} {name!r} is not a valid name ([a-z][a-z0-9_]*)")
        if name in seen:
            raise _fail(d, f"{what} {name!r} is listed twice")
        seen.add(name)


def _check_basics(d: WorkflowDefinition) -> None:
    if not is_name(d.name):
        raise _fail(d, "the name must match [a-z][a-z0-9_]*")
    if d.version < 1:
        raise _fail(d, "the version must be >= 1")
    if not d.states:
        raise _fail(d, "no states")
    _unique_names(d, "state", d.states)
    for state in d.terminal_states:
        if state not in d.states:
            raise _fail(d, f"terminal state {state!r} is not a known state")
    if d.failed_state not in d.terminal_states:
        raise _fail(d, f"failed_state {d.failed_state!r} must be a terminal state")
    if d.max_attempts < 1:
        raise _fail(d, "max_attempts must be >= 1")
    if d.pending_timeout_ms <= 0:
        raise _fail(d, "pending_timeout_ms must be > 0")
    if not d.start_events:
        raise _fail(d, "no start events")
    if d.budget is not None:
        b = d.budget
        if b.max_tokens is None and b.max_cost_usd is None:
            raise _fail(d, "a budget needs max_tokens or max_cost_usd")
        if b.exceeded_state not in d.terminal_states:
            raise _fail(d, f"budget exceeded_state {b.exceeded_state!r} must be a terminal state")
    for event_type in d.start_events:
        if event_type.startswith(f"{SCHEDULE_FIRED}:") and _is_schedule_trigger(event_type):
            continue  # a schedule's ticks: schedule.fired:<schedule>
        if event_type in QUALIFIED_TYPES or event_type not in _KNOWN_EVENT_TYPES:
            raise _fail(d, f"start event {event_type!r} is not a startable event type")


def _is_schedule_trigger(text: str) -> bool:
    try:
        return parse_trigger(text).kind == "schedule"
    except DefinitionError:
        return False


def _check_transition(d: WorkflowDefinition, t: Transition, trigger: Trigger) -> None:
    where = f"transition {t.on!r} {t.from_state} -> {t.to_state}"
    if trigger.event_type not in _KNOWN_EVENT_TYPES:
        raise _fail(d, f"{where}: unknown event type {trigger.event_type!r}")
    if t.from_state != START and t.from_state not in d.states:
        raise _fail(d, f"{where}: unknown state {t.from_state!r}")
    if t.to_state not in d.states:
        raise _fail(d, f"{where}: unknown state {t.to_state!r}")
    if t.step is not None and not is_name(t.step):
        raise _fail(d, f"{where}: step {t.step!r} is not a valid name")
    if t.from_state == START and t.on not in d.start_events:
        raise _fail(d, f"{where}: only start events leave {START}")
    if t.from_state in d.terminal_states:
        raise _fail(d, f"{where}: terminal state {t.from_state!r} cannot have transitions")
    approval_trigger = trigger.event_type in (APPROVAL_GRANTED, APPROVAL_DENIED)
    if approval_trigger and d.approval_for(t.from_state) is None:
        raise _fail(d, f"{where}: {t.from_state!r} does not request an approval")
    if trigger.kind == "timer":
        deadline = d.deadline(trigger.timer or "")
        if deadline is None or deadline.state != t.from_state:
            raise _fail(d, f"{where}: no deadline {trigger.timer!r} is armed in {t.from_state!r}")


def _check_ambiguity(d: WorkflowDefinition, by_state: Mapping[str, list[Trigger]]) -> None:
    for state, triggers in by_state.items():
        for i, a in enumerate(triggers):
            for b in triggers[i + 1 :]:
                if a.overlaps(b):
                    raise _fail(
                        d,
                        f"ambiguous transitions in state {state!r}: "
                        f"{a.text!r} and {b.text!r} match the same event",
                    )


def _check_approvals_and_deadlines(d: WorkflowDefinition, outgoing: set[tuple[str, str]]) -> None:
    _unique_names(d, "approval state", (a.state for a in d.approval_steps))
    for a in d.approval_steps:
        if a.state not in d.states or a.state in d.terminal_states:
            raise _fail(d, f"approval step {a.step!r}: {a.state!r} is not a non-terminal state")
        if not is_name(a.step) or not a.required_role:
            raise _fail(d, f"approval step {a.step!r}: needs a valid step and required_role")
        if a.deadline is not None:
            deadline = d.deadline(a.deadline)
            if deadline is None or deadline.state != a.state:
                raise _fail(d, f"approval step {a.step!r}: no deadline {a.deadline!r} there")
    _unique_names(d, "deadline", (x.name for x in d.deadlines))
    for x in d.deadlines:
        if x.state not in d.states or x.state in d.terminal_states:
            raise _fail(d, f"deadline {x.name!r}: {x.state!r} is not a non-terminal state")
        if x.after_ms <= 0:
            raise _fail(d, f"deadline {x.name!r}: after_ms must be > 0")
        if (x.state, f"timer.fired:{x.name}") not in outgoing:
            raise _fail(d, f"deadline {x.name!r}: no 'timer.fired:{x.name}' out of {x.state!r}")


def _graph(d: WorkflowDefinition) -> dict[str, set[str]]:
    """Successors of each state, with the implicit edge to ``failed_state`` from every state
    entered with a step (a step that fails for good leads there), and with a budget, to its
    ``exceeded_state`` from every state entered with a step (its result may exceed it)."""
    edges: dict[str, set[str]] = {}
    for t in d.transitions:
        edges.setdefault(t.from_state, set()).add(t.to_state)
        if t.step is not None:
            edges.setdefault(t.to_state, set()).add(d.failed_state)
            if d.budget is not None:
                edges[t.to_state].add(d.budget.exceeded_state)
    return edges


def _closure(edges: Mapping[str, set[str]], origin: str) -> frozenset[str]:
    seen: set[str] = set()
    queue = deque(edges.get(origin, ()))
    while queue:
        state = queue.popleft()
        if state not in seen:
            seen.add(state)
            queue.extend(edges.get(state, ()))
    return frozenset(seen)


def validate(d: WorkflowDefinition) -> None:
    """Raise :class:`DefinitionError` for the first problem of ``d``."""
    _check_basics(d)
    if d.steps:
        issued = {t.step for t in d.transitions if t.step is not None}
        tools = {t.name: t for t in d.tools}
        if len(tools) != len(d.tools):
            raise _fail(d, "a tool is declared twice")
        check_steps(d.ident, issued, d.steps, tools)
    by_state: dict[str, list[Trigger]] = {}
    outgoing: set[tuple[str, str]] = set()
    for t in d.transitions:
        try:
            trigger = parse_trigger(t.on)
        except DefinitionError as exc:
            raise _fail(d, str(exc)) from None
        _check_transition(d, t, trigger)
        by_state.setdefault(t.from_state, []).append(trigger)
        outgoing.add((t.from_state, t.on))
    for event_type in d.start_events:
        if (START, event_type) not in outgoing:
            raise _fail(d, f"start event {event_type!r} has no transition from {START}")
    _check_ambiguity(d, by_state)
    _check_approvals_and_deadlines(d, outgoing)
    reachable = _closure(_graph(d), START)
    unreachable = [s for s in d.states if s not in reachable]
    if unreachable:
        raise _fail(d, f"unreachable state(s) {', '.join(map(repr, unreachable))}")
    for state in d.states:
        if state not in d.terminal_states and state not in by_state:
            raise _fail(d, f"state {state!r} is not terminal but has no transitions out of it")


def build_indexes(
    d: WorkflowDefinition,
) -> tuple[dict[str, tuple[tuple[Trigger, Transition], ...]], dict[str, frozenset[str]]]:
    """(transitions by source state with parsed triggers, states reachable from each state)."""
    by_state: dict[str, list[tuple[Trigger, Transition]]] = {}
    for t in d.transitions:
        by_state.setdefault(t.from_state, []).append((parse_trigger(t.on), t))
    edges = _graph(d)
    reachable = {state: _closure(edges, state) for state in d.states}
    return {k: tuple(v) for k, v in by_state.items()}, reachable
