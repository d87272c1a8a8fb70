"""Tool implementations, bound to the tools workflows declare.

A workflow declares a tool (:class:`workflows.ToolSpec`: name, input and output types, impact,
tenants); the runner's :class:`ToolRegistry` binds that name to an implementation. An
implementation is an ``async`` function of the validated input and a :class:`ToolContext`,
whose ``idempotency_key`` a side-effecting tool must pass on to the system it changes (as an
``Idempotency-Key`` header, say). A tool may also give ``reconcile(context)``: asked after a
crash left an intent without an outcome, it returns the outcome the key already had, or None
if the call never took effect (then the call is made again, with the same key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from workflows import ToolSpec

ToolResult = BaseModel | Mapping[str, object]


@dataclass(frozen=True)
class ToolContext:
    """What a tool call knows besides its input. ``idempotency_key`` is None for ``read``
    tools, which have no side effect to deduplicate."""

    tenant: str
    workflow_id: str
    step: str
    idempotency_key: str | None


ToolFunction = Callable[[BaseModel, ToolContext], Awaitable[ToolResult]]
Reconciler = Callable[[ToolContext], Awaitable[ToolResult | None]]


class ToolFailure(Exception):
    """A tool call failed: ``transient`` (the step may be retried; a side-effecting call is
    then reconciled or repeated with its key) or ``permanent``."""

    def __init__(self, error_class: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.error_type = error_type


@dataclass(frozen=True)
class ToolBinding:
    """A declared tool's implementation."""

    name: str
    run: ToolFunction
    reconcile: Reconciler | None = None


class ToolRegistry:
    """Implementations by tool name. A runner refuses to start when a declared tool has none
    (:meth:`missing`), rather than fail the first step that calls it."""

    def __init__(self, bindings: Iterable[ToolBinding] = ()) -> None:
        self._bindings: dict[str, ToolBinding] = {}
        for binding in bindings:
            self.bind(binding)

    def bind(self, binding: ToolBinding) -> None:
        if binding.name in self._bindings:
            raise ValueError(f"tool {binding.name!r} is bound twice")
        self._bindings[binding.name] = binding

    def get(self, name: str) -> ToolBinding | None:
        return self._bindings.get(name)

    def __iter__(self) -> Iterator[ToolBinding]:
        return iter(self._bindings.values())

    def missing(self, declared: Iterable[ToolSpec]) -> list[str]:
        """The declared tools that have no implementation here."""
        return sorted({t.name for t in declared} - set(self._bindings))
