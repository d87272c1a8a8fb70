"""The composition root: settings in, a deployment and the processors that run on it out.

Every command builds what it needs here, once: the worker, the CLI's readers and writers, the
producer SDK, the demo, the test kit and the bench resolve topics through the
:class:`~processors.deployment.Deployment` that :func:`build_deployment` returns, never by
looking a role up in the catalog themselves.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from agentflow.errors import UserError
from agentflow.gate_config import load_gate
from agentflow.settings import Settings, load_settings
from agents.tools import ToolRegistry
from processors.contract import Processor
from processors.deployment import Deployment
from processors.engine import OrchestratorProcessor
from processors.events import Actor
from processors.gate import Gate, GateProcessor
from processors.pipeline import WorkflowPipeline
from processors.roles import QUARANTINE_ROLE
from processors.schedules import SCHEDULE_SOURCE, SCHEDULES_TABLE, Scheduler
from processors.steps import LEDGER_TABLE
from topics import catalog_names
from workflows import DefinitionRegistry

if TYPE_CHECKING:  # pydantic-ai and the provider SDKs take seconds to import: see step_executor
    from agents.executor import StepExecutor  # here: only the step runner needs models
    from streams.tracing import Tracing


def build_deployment(
    settings: Settings,
    processors: Iterable[Processor] = (),
    roles: Mapping[str, str] | None = None,
) -> Deployment:
    """The catalog's topics with the configured prefix, ``roles`` (exact topic names) on top,
    and a changelog topic for each table of ``processors``."""
    d = settings.deployment
    tables = [t.name for p in processors for t in p.tables]
    deployment = Deployment.create(
        d.app_id,
        d.partitions,
        catalog_names(),
        topic_prefix=d.topic_prefix,
        replication_factor=d.replication_factor,
        tables=tables,
    )
    return deployment.with_topics(roles) if roles else deployment


def load_factory(spec: str) -> Any:
    """Call ``module:factory`` (a class, or a function returning a processor, a list of
    processors or a registry) and return what it returns."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UserError(f"wanted module:factory, got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"cannot load {spec!r}: {exc}") from None
    return factory()


def load_processors(specs: Iterable[str]) -> list[Any]:
    """The processors ``specs`` name, in order; a factory may return several."""
    out: list[Any] = []
    for spec in specs:
        loaded = load_factory(spec)
        out.extend(loaded if isinstance(loaded, list | tuple) else [loaded])
    return out


def load_registry(settings: Settings) -> DefinitionRegistry:
    """The workflow definitions ``AGENTFLOW_WORKFLOWS`` (``module:function``) names."""
    spec = settings.app.workflows
    registry = load_factory(spec)
    if not isinstance(registry, DefinitionRegistry):
        raise UserError(
            f"AGENTFLOW_WORKFLOWS={spec} returned {type(registry).__name__}, not a "
            "workflows.DefinitionRegistry; the function must take no arguments and return one"
        )
    return registry


def load_tools(settings: Settings) -> ToolRegistry:
    """The tools' implementations ``AGENTFLOW_TOOLS`` (``module:function``) names, given the
    back-ends' URLs (``AGENTFLOW_TOOL_URLS``); UserError if a declared tool has none."""
    spec = settings.app.tools
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UserError(f"AGENTFLOW_TOOLS={spec}: cannot load it ({exc})") from None
    tools = factory(dict(settings.app.tool_urls))
    if not isinstance(tools, ToolRegistry):
        raise UserError(
            f"AGENTFLOW_TOOLS={spec} returned {type(tools).__name__}, not an "
            "agents.tools.ToolRegistry; the function takes the URLs mapping and returns one"
        )
    return tools


def step_executor(
    settings: Settings,
    actor: Actor,
    registry: DefinitionRegistry | None = None,
    tools: ToolRegistry | None = None,
    tracing: Tracing | None = None,
) -> StepExecutor:
    """The executor of the configured workflows' steps (or ``registry``'s), with their tools
    (or ``tools``) and models; a UserError names a declared tool that has no implementation."""
    registry = registry if registry is not None else load_registry(settings)
    tools = tools if tools is not None else load_tools(settings)
    declared = [t for d in registry for t in d.tools]
    missing = tools.missing(declared)
    if missing:
        raise UserError(
            f"the workflows declare tools {missing} that AGENTFLOW_TOOLS={settings.app.tools} "
            "does not bind; bind each with a ToolBinding"
        )
    m = settings.models
    key = m.model_api_key.get_secret_value() if m.model_api_key is not None else None
    anthropic = m.anthropic_api_key
    from agents.executor import StepExecutor  # here: only the step runner needs models
    from agents.models import ModelEndpoint

    endpoint = ModelEndpoint(
        m.model_base_url,
        key,
        m.model_timeout_s,
        m.anthropic_base_url,
        anthropic.get_secret_value() if anthropic is not None else None,
    )
    return StepExecutor(registry, tools, actor, endpoint, model_override=m.model,
                        tracing=tracing)  # fmt: skip


def worker_processors(settings: Settings) -> list[Processor]:
    """The validation gate fused with the orchestrator: one pass, one transaction; and the
    scheduler of the registry's schedules, if it has any."""
    registry = load_registry(settings)
    gate = load_gate(settings)
    return [WorkflowPipeline(gate, OrchestratorProcessor(registry), scheduler(registry, gate))]


def scheduler(registry: DefinitionRegistry, gate: Gate) -> Scheduler | None:
    """The scheduler of ``registry``'s schedules (None without any); a UserError if no key
    may sign for the schedules' source."""
    if not registry.schedules:
        return None
    key_ids = gate.keyring.key_ids(SCHEDULE_SOURCE)
    if not key_ids:
        raise UserError(
            f"the workflows declare schedules, and no signing key may sign for the "
            f"{SCHEDULE_SOURCE!r} source: add one to the signing keys (and allow the source "
            "schedule.* in the gate policy)"
        )
    return Scheduler(registry.schedules, gate.keyring, key_ids[0])


def gate_only() -> GateProcessor:
    """The validation gate alone (``--processor agentflow.composition:gate_only``)."""
    return GateProcessor(load_gate(load_settings()))


def topology_deployment(
    settings: Settings, specs: Sequence[str] = (), roles: Mapping[str, str] | None = None
) -> Deployment:
    """The deployment of the worker that ``specs`` and ``roles`` describe, for commands that
    create or list its topics. For the default worker: the whole catalog and the
    orchestrator's changelogs. For custom processors: the roles they read and write,
    quarantine, and their tables' changelogs. Loads no policy and no keys."""
    processors: list[Processor] = load_processors(specs)
    if not processors:  # the default worker's tables are the orchestrator's, and the runner's
        deployment = build_deployment(
            settings, [OrchestratorProcessor(DefinitionRegistry())], roles
        )
        return deployment.with_tables([LEDGER_TABLE, SCHEDULES_TABLE])
    deployment = build_deployment(settings, processors, roles)
    used = {r for p in processors for r in (*p.input_roles, *p.output_roles)}
    used.add(QUARANTINE_ROLE)
    return replace(deployment, topics={r: t for r, t in deployment.topics.items() if r in used})


def processors_for(settings: Settings, specs: Sequence[str]) -> list[Processor]:
    """The processors ``specs`` name, or the worker's default (gate and orchestrator)."""
    return load_processors(specs) or worker_processors(settings)
