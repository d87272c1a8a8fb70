"""The observers a worker or a step runner reports to: its stats (log line and JSON file) and
its Prometheus metrics, served at ``/metrics`` when a port is set."""

from __future__ import annotations

import logging

import click
from prometheus_client import CollectorRegistry

from agentflow.errors import UserError
from streams.metrics import MetricsObserver, serve_metrics
from streams.observer import Observers
from streams.settings import HostSettings
from streams.stats import StatsObserver

METRICS_PORT_OPTION = click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics at http://AGENTFLOW_METRICS_HOST:PORT/metrics "
    "(default: AGENTFLOW_METRICS_PORT; unset, no endpoint).",
)


def host_observers(
    host: HostSettings, component: str, logger: logging.Logger, metrics_port: int | None
) -> tuple[Observers, CollectorRegistry]:
    """Stats and metrics observers of one process; starts the metrics endpoint if a port is
    set. The registry is returned so the caller can add its own metrics to it."""
    registry = CollectorRegistry()
    observers = Observers(
        [StatsObserver(host.stats_file, logger), MetricsObserver(registry, component)]
    )
    port = metrics_port if metrics_port is not None else host.metrics_port
    if port is not None:
        try:
            serve_metrics(registry, host.metrics_host, port)
        except OSError as exc:
            raise UserError(
                f"cannot serve metrics on {host.metrics_host}:{port} ({exc.strerror}); choose "
                "another --metrics-port or AGENTFLOW_METRICS_PORT"
            ) from None
        logger.info("metrics at http://%s:%d/metrics", host.metrics_host, port)
    return observers, registry
