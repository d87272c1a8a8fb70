"""``agentflow worker``: run processors on the stream host."""

from __future__ import annotations

import logging

import click

from agentflow.cli.observe import METRICS_PORT_OPTION, host_observers
from agentflow.composition import build_deployment, processors_for
from agentflow.errors import UserError
from agentflow.settings import load_settings
from processors.engine.span_facts import span_facts
from streams.collector import tune_collector
from streams.errors import HostError, StartupError
from streams.host import StreamHost
from streams.tracing import Tracing


def parse_roles(pairs: tuple[str, ...]) -> dict[str, str]:
    """``ROLE=TOPIC`` pairs as a dict; a UserError for a malformed one."""
    roles: dict[str, str] = {}
    for pair in pairs:
        role, sep, topic = pair.partition("=")
        if not sep or not role or not topic:
            raise UserError(f"--role wants role=topic, got {pair!r}")
        roles[role] = topic
    return roles


PROCESSOR_OPTION = click.option(
    "--processor",
    "processor_specs",
    multiple=True,
    metavar="MODULE:FACTORY",
    help="Run these processors instead of the gate and the orchestrator (a class, or a "
    "function returning a processor or a list of them).",
)
ROLE_OPTION = click.option(
    "--role",
    "role_pairs",
    multiple=True,
    metavar="ROLE=TOPIC",
    help="Map a topic role to an exact topic name (default: the catalog, with the prefix).",
)


@click.command("worker")
@PROCESSOR_OPTION
@ROLE_OPTION
@METRICS_PORT_OPTION
@click.option("--log-level", default="INFO", show_default=True)
def worker_cmd(
    processor_specs: tuple[str, ...],
    role_pairs: tuple[str, ...],
    metrics_port: int | None,
    log_level: str,
) -> None:
    """Run the stream host until SIGTERM or SIGINT.

    Settings come from AGENTFLOW_* variables (see the README's settings table): bootstrap
    servers, topic prefix, data directory, commit interval, batch size, processing guarantee.
    At start-up every topic the processors read or write, quarantine included, and every
    table's changelog must exist: `agentflow topics ensure` (with the same --processor and
    --role options) creates them.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings()
    processors = processors_for(settings, processor_specs)
    deployment = build_deployment(settings, processors, parse_roles(role_pairs))
    log = logging.getLogger("agentflow.host")
    observer, _ = host_observers(settings.host, "worker", log, metrics_port)
    tracing = Tracing.from_settings(settings.tracing, "agentflow-worker")
    # The engine's facts read its audit records; other processors' spans carry no facts.
    facts = None if processor_specs else span_facts
    try:
        host = StreamHost(settings.kafka, settings.host, deployment, processors, observer,
                          tracing=tracing, span_facts=facts)  # fmt: skip
        host.install_signal_handlers()
        tune_collector(settings.host.gc_threshold)
        host.run()
    except (StartupError, HostError) as exc:
        raise UserError(str(exc)) from None
    finally:
        if tracing is not None:
            tracing.shutdown()
