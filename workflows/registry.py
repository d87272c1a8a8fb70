"""The definition registry: every version of every workflow the engine may run.

A new workflow is started with the newest version whose ``start_events`` name its first event;
a running workflow keeps the ``(name, version)`` recorded in its state, so deploying version 2
never changes the rules under a workflow that started on version 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from workflows.definition import WorkflowDefinition
from workflows.schedules import Schedule
from workflows.triggers import DefinitionError

DEFAULT_ORPHAN_TIMEOUT_MS: Final = 10 * 60_000


class DefinitionRegistry:
    """All registered definitions, by ``(name, version)`` and by start event.

    ``orphan_timeout_ms`` is how long an event for a workflow that has not started is held
    waiting for its start event (no definition is known yet, so it cannot come from one).
    ``schedules`` are the :class:`~workflows.schedules.Schedule` s whose ticks the worker
    fires; a definition starts on one with the start event ``schedule.fired:<name>``.
    """

    def __init__(
        self,
        definitions: Iterable[WorkflowDefinition] = (),
        *,
        orphan_timeout_ms: int = DEFAULT_ORPHAN_TIMEOUT_MS,
        schedules: Iterable[Schedule] = (),
    ) -> None:
        if orphan_timeout_ms <= 0:
            raise ValueError("orphan_timeout_ms must be > 0")
        self.orphan_timeout_ms = orphan_timeout_ms
        self.schedules: tuple[Schedule, ...] = tuple(schedules)
        names = [s.name for s in self.schedules]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DefinitionError(f"schedules {twice} are registered twice")
        self._by_key: dict[tuple[str, int], WorkflowDefinition] = {}
        self._starter: dict[str, str] = {}  # start event (or schedule trigger) -> definition
        for definition in definitions:
            self.register(definition)
        for schedule in self.schedules:
            if self.for_start_event(f"schedule.fired:{schedule.name}") is None:
                raise DefinitionError(
                    f"schedule {schedule.name!r}: no definition starts on it; give one the "
                    f"start event 'schedule.fired:{schedule.name}'"
                )

    def register(self, definition: WorkflowDefinition) -> None:
        """Add ``definition``; :class:`DefinitionError` if its ``(name, version)`` is taken or
        one of its start events already starts a workflow of another name."""
        key = (definition.name, definition.version)
        if key in self._by_key:
            raise DefinitionError(f"workflow {definition.ident}: already registered")
        for event_type in definition.start_events:
            owner = self._starter.get(event_type)
            if owner is not None and owner != definition.name:
                raise DefinitionError(
                    f"workflow {definition.ident}: start event {event_type!r} "
                    f"already starts workflow {owner!r}"
                )
        self._by_key[key] = definition
        for event_type in definition.start_events:
            self._starter[event_type] = definition.name

    def get(self, name: str, version: int) -> WorkflowDefinition | None:
        """The definition ``name`` at ``version``, or None."""
        return self._by_key.get((name, version))

    def latest(self, name: str) -> WorkflowDefinition | None:
        """The newest version of ``name``, or None."""
        versions = self.versions(name)
        return self._by_key[(name, versions[-1])] if versions else None

    def versions(self, name: str) -> tuple[int, ...]:
        """The registered versions of ``name``, ascending."""
        return tuple(sorted(v for n, v in self._by_key if n == name))

    def for_start_event(self, event_type: str) -> WorkflowDefinition | None:
        """The newest version that starts on ``event_type``, or None if nothing starts on it."""
        name = self._starter.get(event_type)
        if name is None:
            return None
        for version in reversed(self.versions(name)):
            definition = self._by_key[(name, version)]
            if event_type in definition.start_events:
                return definition
        return None  # pragma: no cover - _starter only names definitions listing the event

    def for_start(self, keys: Iterable[str]) -> WorkflowDefinition | None:
        """The definition the first of ``keys`` (an event's trigger strings, most specific
        first: ``schedule.fired:nightly``, or a plain event type) starts, or None."""
        for key in keys:
            found = self.for_start_event(key)
            if found is not None:
                return found
        return None

    def is_start_event(self, event_type: str) -> bool:
        return self.for_start_event(event_type) is not None

    def schedule(self, name: str) -> Schedule | None:
        """The registered schedule ``name``, or None."""
        return next((s for s in self.schedules if s.name == name), None)

    def __iter__(self) -> Iterator[WorkflowDefinition]:
        return iter(sorted(self._by_key.values(), key=lambda d: (d.name, d.version)))

    def __len__(self) -> int:
        return len(self._by_key)
