"""Steps run again in a dry-run replay (``agentflow replay --steps / --call-models``).

The replay package never imports the agent runtime; this module, in the composition root,
builds its :class:`~replay.steps.StepReruns` over the runtime's
:class:`~agents.executor.StepExecutor`, fenced for a dry run:

- a ``write`` or ``high_impact`` tool is never called. A call whose idempotency key the
  ledger (read from its changelog) has an outcome for gets that outcome, as a live rerun
  would; any other is refused (``replay_refused``), and the step fails as it would on a
  refused tool.
- a ``read`` tool is called only with ``--call-read-tools``, else refused the same way.
- a model step runs only with ``--call-models``; without it, its command is left to the log.
- nothing is written: ledger writes go to memory and are dropped.

Each command runs with the executor's clock at the time the replay decides it, so the answer's
times come from the log too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from agentflow.composition import load_factory, load_tools, step_executor, topology_deployment
from agentflow.errors import UserError
from agentflow.settings import Settings
from processors.engine.records import StepCommand
from processors.events import Actor, encode
from processors.steps import LEDGER, LEDGER_TABLE
from replay.reader import ReplayError, latest_values, topic_ends
from replay.steps import StepReruns
from workflows import DefinitionError, DefinitionRegistry, StepSpec, ToolSpec

if TYPE_CHECKING:  # the runtime loads pydantic-ai: only when a replay runs steps
    from agents.executor import StepExecutor
    from agents.tools import ToolBinding, ToolContext, ToolRegistry

#: Who answers a step in a replay (the answer's actor; the engine does not decide on it).
REPLAY_ACTOR = Actor(id="agentflow-replay", kind="service", roles=["agent"])


def with_steps(
    registry: DefinitionRegistry, spec: str
) -> tuple[DefinitionRegistry, frozenset[str]]:
    """``registry`` with the step declarations ``spec`` (``module:function`` returning
    StepSpecs) in place of the same-named ones; and those steps' names."""
    specs = load_factory(spec)
    if isinstance(specs, StepSpec):
        specs = [specs]
    if not isinstance(specs, Iterable) or not all(isinstance(s, StepSpec) for s in specs):
        raise UserError(f"--steps {spec}: the function must return workflows.StepSpec objects")
    by_name = {s.name: s for s in specs}
    used: set[str] = set()
    definitions = []
    for d in registry:
        steps = tuple(by_name.get(s.name, s) for s in d.steps)
        used.update(s.name for s in d.steps if s.name in by_name)
        definitions.append(replace(d, steps=steps) if steps != d.steps else d)
    unknown = sorted(set(by_name) - used)
    if unknown:
        raise UserError(f"--steps {spec}: no definition declares the steps {unknown}; a "
                        "candidate step replaces a declared one of the same name")  # fmt: skip
    try:
        candidate = DefinitionRegistry(definitions, orphan_timeout_ms=registry.orphan_timeout_ms)
    except DefinitionError as exc:
        raise UserError(f"--steps {spec}: {exc}") from None
    return candidate, frozenset(by_name)


def recorded_ledger(settings: Settings) -> dict[bytes, dict[str, Any]]:
    """The step runner's side-effect ledger, from its changelog (empty if it never ran)."""
    topic = topology_deployment(settings).changelog(LEDGER_TABLE)
    config = settings.kafka.client_config()
    try:
        ends = topic_ends(config, topic)
    except ReplayError:
        return {}  # the runner never ran here
    raw = latest_values(config, ends)
    return {key: LEDGER.codec.decode(value) for key, value in raw.items()}


def _refusal(tool: ToolSpec, why: str) -> ToolBinding:
    from agents.tools import ToolBinding, ToolFailure

    async def refuse(_args: Any, context: ToolContext) -> Any:
        key = f" (no recorded outcome for {context.idempotency_key})" \
            if context.idempotency_key else ""  # fmt: skip
        raise ToolFailure("permanent", "replay_refused", f"{tool.name}: {why}{key}")

    return ToolBinding(tool.name, refuse)


def dry_run_tools(registry: DefinitionRegistry, real: ToolRegistry | None) -> ToolRegistry:
    """Every declared tool, bound for a dry run: ``real`` read tools (if given), and a
    refusal for every other."""
    from agents.tools import ToolRegistry

    tools = ToolRegistry()
    for tool in {t.name: t for d in registry for t in d.tools}.values():
        binding = real.get(tool.name) if real is not None and tool.impact == "read" else None
        if binding is None:
            why = (
                "a replay calls read tools only with --call-read-tools"
                if tool.impact == "read"
                else f"a replay never calls a {tool.impact} tool"
            )
            binding = _refusal(tool, why)
        tools.bind(binding)
    return tools


class _DryLedger:
    """The recorded ledger, read-only underneath: writes stay in memory."""

    def __init__(self, recorded: dict[bytes, dict[str, Any]]) -> None:
        self._recorded = recorded
        self._written: dict[bytes, dict[str, Any]] = {}

    def get(self, key: bytes) -> dict[str, Any] | None:
        return self._written.get(key, self._recorded.get(key))

    def put(self, key: bytes, value: dict[str, Any]) -> None:
        self._written[key] = value


async def _durable() -> None:
    return None


class DryRunSteps:
    """A :data:`~replay.steps.StepRerun` over the executor; see the module docstring."""

    def __init__(
        self,
        executor: StepExecutor,
        ledger: dict[bytes, dict[str, Any]],
        call_models: bool,
    ) -> None:
        self.executor = executor
        self.ledger = ledger
        self.call_models = call_models
        self._loop = asyncio.new_event_loop()

    def __call__(self, command: StepCommand, at_ms: int) -> bytes | None:
        definition = self.executor.registry.get(command.definition_name,
                                                command.definition_version)  # fmt: skip
        spec = definition.step(command.step) if definition is not None else None
        if spec is not None and spec.handler is None and not self.call_models:
            return None  # a model step: only with --call-models
        self.executor.clock = lambda: at_ms / 1000
        run = self.executor.execute(command, _DryLedger(self.ledger), _durable)
        outcome = self._loop.run_until_complete(run)
        return encode(outcome.answer)

    def close(self) -> None:
        self._loop.close()


def dry_run_reruns(
    settings: Settings,
    registry: DefinitionRegistry,
    steps: str | None,
    call_models: bool,
    call_read_tools: bool,
) -> tuple[DefinitionRegistry, StepReruns, DryRunSteps]:
    """The candidate registry (with ``steps``' declarations) and the reruns of a replay."""
    changed: frozenset[str] = frozenset()
    if steps is not None:
        registry, changed = with_steps(registry, steps)
    real = load_tools(settings) if call_read_tools else None
    executor = step_executor(settings, REPLAY_ACTOR, registry, dry_run_tools(registry, real))
    runner = DryRunSteps(executor, recorded_ledger(settings), call_models)
    return registry, StepReruns(runner, changed, new_commands=call_models), runner
