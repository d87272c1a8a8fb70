"""Steps and tools as declarations, next to the workflow that uses them.

A :class:`StepSpec` says what a step may see (its *view* of the command's input), what it must
return (a pydantic output type, whose validators are the output guardrails), which tools it may
call, and how it runs: by a model (``model``, with an optional ``fallback_model`` and the
``instructions`` prompt) or as plain Python (``handler``), through the same interface. A
:class:`ToolSpec` declares a tool's input and output types and its impact. The runner binds
tools to implementations and enforces all of it; these are declarations only.

    CLASSIFY = StepSpec(
        name="classify",
        view=("context.subject", "context.body", "event.body"),
        output_type=Classification,
        instructions="Classify this support ticket: {{context.subject}} {{context.body}}",
        model="openai:gpt-4o-mini",
    )
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from pydantic import BaseModel

from avro_schemas import event_types, required_payload_fields
from workflows.triggers import DefinitionError, is_name

Impact = Literal["read", "write", "high_impact"]
"""What a tool call does: ``read`` changes nothing; ``write`` has a side effect (it gets an
idempotency key and a ledger entry); ``high_impact`` also needs a granted approval."""

#: Error classes a step retries by default (``retry_on``): rate limits, timeouts, 5xx,
#: connection errors. Everything else fails the step at once.
TRANSIENT_ERRORS: Final = ("rate_limited", "timeout", "server_error", "connection")

#: ``{{key}}`` in a step's instructions: replaced by the view's value for ``key``.
PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")

StepOutput = BaseModel | Mapping[str, object]


class Tools(Protocol):
    """The tools a running step may call: only those its declaration allows. The runner
    checks the allowlist, the tool's tenants and, for a ``high_impact`` tool, the approval,
    and keys every ``write`` and ``high_impact`` call in its side-effect ledger."""

    async def call(self, name: str, args: BaseModel | Mapping[str, object]) -> BaseModel:
        """Call tool ``name`` with ``args`` (validated by its input type); its output."""
        ...


StepHandler = Callable[[Mapping[str, str], Tools], StepOutput | Awaitable[StepOutput]]
"""A plain-Python step: its scoped view and its tools in, its output (validated by
``output_type``) out. It may be ``async`` (it must be, to call a tool)."""


@dataclass(frozen=True)
class ToolSpec:
    """A tool a step may be allowed to call."""

    name: str
    input_type: type[BaseModel]
    output_type: type[BaseModel]
    impact: Impact = "read"
    description: str = ""
    #: The tenants it may serve; empty: every tenant.
    tenants: tuple[str, ...] = ()
    #: The step roles it may serve (:attr:`StepSpec.role`); empty: every role. A step in
    #: another role may not list it in its allowlist.
    roles: tuple[str, ...] = ()
    #: For a ``high_impact`` tool: the step whose result the reviewer approved. Its arguments
    #: must equal that result, with the reviewer's changes, field for field.
    approves: str | None = None

    def __post_init__(self) -> None:
        where = f"tool {self.name!r}"
        if not is_name(self.name):
            raise DefinitionError(f"{where}: the name must match [a-z][a-z0-9_]*")
        if (self.impact == "high_impact") != (self.approves is not None):
            raise DefinitionError(
                f"{where}: a high_impact tool names the step whose approved result it carries "
                "out (approves=...), and only a high_impact tool does"
            )

    def serves(self, tenant: str) -> bool:
        """True if the tool may run for ``tenant``."""
        return not self.tenants or tenant in self.tenants

    def serves_role(self, role: str | None) -> bool:
        """True if a step acting in ``role`` may call the tool."""
        return not self.roles or role in self.roles


@dataclass(frozen=True)
class StepSpec:
    """One step. ``view`` entries are input keys (``context.subject``) or prefixes ending in
    ``.*`` (``event.*``); nothing outside the view reaches the model or the handler."""

    name: str
    view: tuple[str, ...]
    output_type: type[BaseModel]
    instructions: str = ""
    tools: tuple[str, ...] = ()
    model: str | None = None
    fallback_model: str | None = None
    handler: StepHandler | None = field(default=None, compare=False)
    timeout_s: float = 60.0
    max_tokens: int | None = None
    retry_on: tuple[str, ...] = TRANSIENT_ERRORS
    #: An event type (``reply.drafted``) the step's result is published as, on the outputs
    #: topic, when the engine applies it: an agent output for downstream consumers. Its
    #: payload's fields are taken from the result, so the output type must have them all.
    publishes: str | None = None
    #: The role the step acts in (``refunds``); a tool that names roles serves only those.
    role: str | None = None
    #: ``urgent``: the step runner starts it before every normal step its tenant's limits
    #: would also allow (a priority lane; see :mod:`agents.scheduling`).
    priority: Literal["normal", "urgent"] = "normal"

    def __post_init__(self) -> None:
        where = f"step {self.name!r}"
        if not is_name(self.name):
            raise DefinitionError(f"{where}: the name must match [a-z][a-z0-9_]*")
        if (self.model is None) == (self.handler is None):
            raise DefinitionError(f"{where}: give it a model or a handler, exactly one")
        if self.fallback_model is not None and self.model is None:
            raise DefinitionError(f"{where}: a fallback model needs a model")
        if self.timeout_s <= 0:
            raise DefinitionError(f"{where}: timeout_s must be > 0")
        outside = [p for p in self.placeholders() if not self.sees(p)]
        if outside:
            raise DefinitionError(f"{where}: its instructions use {outside}, outside its view")

    def placeholders(self) -> tuple[str, ...]:
        """The ``{{key}}`` placeholders of :attr:`instructions`, in order."""
        return tuple(PLACEHOLDER.findall(self.instructions))

    def sees(self, key: str) -> bool:
        """True if input ``key`` is inside the step's view."""
        return any(
            key == entry or (entry.endswith(".*") and key.startswith(entry[:-1]))
            for entry in self.view
        )


def check_steps(
    workflow: str, used: set[str], steps: tuple[StepSpec, ...], tools: Mapping[str, ToolSpec]
) -> None:
    """Raise :class:`DefinitionError` unless every step a transition issues is declared once,
    every declared step is used, and every tool a step allows is declared."""
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise DefinitionError(f"workflow {workflow}: a step is declared twice in {names}")
    if set(names) != used:
        missing, unused = sorted(used - set(names)), sorted(set(names) - used)
        raise DefinitionError(
            f"workflow {workflow}: steps issued but not declared {missing}, "
            f"declared but never issued {unused}"
        )
    for step in steps:
        unknown = [t for t in step.tools if t not in tools]
        if unknown:
            raise DefinitionError(f"workflow {workflow}: step {step.name!r} allows {unknown}, "
                                  "which are not declared tools")  # fmt: skip
        for name in step.tools:
            if not tools[name].serves_role(step.role):
                raise DefinitionError(f"workflow {workflow}: step {step.name!r} (role "
                                      f"{step.role!r}) allows {name!r}, which serves only the "
                                      f"roles {list(tools[name].roles)}")  # fmt: skip
    for step in steps:
        if step.publishes is None:
            continue
        if step.publishes not in event_types():
            raise DefinitionError(f"workflow {workflow}: step {step.name!r} publishes "
                                  f"{step.publishes!r}, which is not an event type")  # fmt: skip
        missing = sorted(
            required_payload_fields(step.publishes) - set(step.output_type.model_fields)
        )
        if missing:
            raise DefinitionError(f"workflow {workflow}: step {step.name!r} publishes "
                                  f"{step.publishes}, whose payload needs {missing}, which its "
                                  f"output type {step.output_type.__name__} lacks")  # fmt: skip
    for tool in tools.values():
        if tool.approves is not None and tool.approves not in names:
            raise DefinitionError(f"workflow {workflow}: tool {tool.name!r} approves "
                                  f"{tool.approves!r}, which is not a declared step")  # fmt: skip
