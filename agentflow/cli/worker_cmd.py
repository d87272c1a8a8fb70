"""``agentflow worker``: run processors on the stream host."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Any

import click

from agentflow.errors import UserError
from agentflow.gate_config import load_gate
from processors.engine import OrchestratorProcessor
from processors.gate import GateProcessor
from processors.pipeline import WorkflowPipeline
from streams.errors import StartupError
from streams.host import StreamHost
from streams.settings import Settings
from topics import by_role, catalog
from workflows import DefinitionRegistry


def load_processor(spec: str) -> Any:
    """Call ``module:factory`` (a class, or a function returning a processor, a list of
    processors or a registry)."""
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
        loaded = load_processor(spec)
        out.extend(loaded if isinstance(loaded, list | tuple) else [loaded])
    return out


def default_roles(settings: Settings) -> dict[str, str]:
    return {role: settings.topic(spec.name) for role, spec in by_role(catalog()).items()}


def parse_roles(pairs: tuple[str, ...]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for pair in pairs:
        role, sep, topic = pair.partition("=")
        if not sep or not role or not topic:
            raise UserError(f"--role wants role=topic, got {pair!r}")
        roles[role] = topic
    return roles


@click.command("worker")
@click.option(
    "--processor",
    "processor_specs",
    multiple=True,
    metavar="MODULE:FACTORY",
    help="Run these processors instead of the gate and the orchestrator.",
)
@click.option(
    "--role",
    "role_pairs",
    multiple=True,
    metavar="ROLE=TOPIC",
    help="Map a topic role to a topic (default: the catalog, with the prefix).",
)
@click.option("--log-level", default="INFO", show_default=True)
def worker_cmd(
    processor_specs: tuple[str, ...], role_pairs: tuple[str, ...], log_level: str
) -> None:
    """Run the stream host until SIGTERM or SIGINT.

    Settings come from AGENTFLOW_* variables (see `streams/settings.py`): bootstrap servers,
    topic prefix, data directory, commit interval, batch size, processing guarantee.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    processors = load_processors(processor_specs) or default_processors(settings)
    roles = default_roles(settings) | parse_roles(role_pairs)
    try:
        host = StreamHost(settings, processors, roles)
        host.install_signal_handlers()
        host.run()
    except StartupError as exc:
        raise UserError(str(exc)) from None


def default_processors(settings: Settings) -> list[Any]:
    """The validation gate fused with the orchestrator: one pass, one transaction."""
    registry = load_processor(settings.workflows)
    if not isinstance(registry, DefinitionRegistry):
        raise UserError(
            f"AGENTFLOW_WORKFLOWS={settings.workflows} did not return a DefinitionRegistry"
        )
    return [WorkflowPipeline(load_gate(settings), OrchestratorProcessor(registry=registry))]


def gate_only() -> GateProcessor:
    """The validation gate alone (``--processor agentflow.cli.worker_cmd:gate_only``)."""
    return GateProcessor(load_gate(Settings()))
