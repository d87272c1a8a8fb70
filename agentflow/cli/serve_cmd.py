"""``agentflow serve``: the webhook ingress over HTTP (the ``edge`` app on uvicorn)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agentflow.composition import build_deployment, topology_deployment
from agentflow.errors import UserError
from agentflow.gate_config import load_gate_policy, load_keyring
from agentflow.settings import Settings, load_settings
from processors.engine.inbox import APPROVALS
from processors.roles import INGRESS_ROLE
from streams.clients import check_topics
from streams.errors import StartupError
from streams.tracing import Tracing

if TYPE_CHECKING:
    from edge.app import EdgeConfig
    from edge.inbox_web import InboxPages


def _edge_config(settings: Settings, webhooks: Path | None) -> EdgeConfig:
    from edge.app import EdgeConfig  # here: the CLI starts without Starlette
    from edge.webhooks import WebhookConfigError, load_webhooks

    policy = load_gate_policy(settings.gate)
    keyring = load_keyring(settings.signing, policy.revoked_key_ids)
    sources = {}
    path = webhooks or settings.edge.webhooks_file
    if path is not None:
        try:
            sources = load_webhooks(path)
        except WebhookConfigError as exc:
            raise UserError(str(exc)) from None
        unsigned = sorted(name for name in sources if not keyring.key_ids(name))
        if unsigned:
            raise UserError(
                f"webhook sources {unsigned} have no signing key: add one per source to the "
                "signing keys (AGENTFLOW_SIGNING_KEYS), which the gate checks them with"
            )
    return EdgeConfig(
        keyring,
        sources,
        max_body_bytes=policy.sizes.max_value_bytes,
        events_rate_per_s=settings.edge.events_rate_per_s,
        events_burst=settings.edge.events_burst,
    )


def _inbox_pages(settings: Settings, config: EdgeConfig, publish: Any) -> InboxPages | None:
    """The approval inbox, if reviewer accounts are configured."""
    edge = settings.edge
    if edge.reviewers is None and edge.reviewers_file is None:
        return None
    from edge.inbox import Inbox, InboxError, PendingApprovals
    from edge.inbox_web import InboxPages
    from edge.reviewers import AccountsError, load_accounts

    try:
        accounts = load_accounts(edge.reviewers, edge.reviewers_file)
        topic = topology_deployment(settings).changelog(APPROVALS)
        pending = PendingApprovals(settings.kafka.client_config(), topic).start()
        return InboxPages(Inbox(pending, config.keyring), accounts, publish)
    except (AccountsError, InboxError) as exc:
        raise UserError(str(exc)) from None


@click.command("serve")
@click.option("--host", help="Address to listen on (default: AGENTFLOW_SERVE_HOST).")
@click.option("--port", type=int, help="Port to listen on (default: AGENTFLOW_SERVE_PORT).")
@click.option(
    "--webhooks",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The webhook sources, TOML (default: AGENTFLOW_WEBHOOKS_FILE).",
)
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))  # fmt: skip
def serve_cmd(host: str | None, port: int | None, webhooks: Path | None, log_level: str) -> None:
    """Take events over HTTP and put them on the ingress topic.

    POST /v1/events takes an agentflow envelope as JSON with the af-key-id and af-signature
    headers (the HMAC of workflow_id, a newline and the body, as a Kafka producer signs);
    POST /v1/webhooks/SOURCE takes a provider's webhook (GitHub, Stripe, a generic HMAC
    header), checks its signature and maps it to an envelope as the webhooks file says.
    Each answers 202 once the broker acknowledged the record, 4xx with the gate's reason code
    for a refusal, 429 (Retry-After) over a source's rate and 503 while the broker is
    unavailable. GET /healthz answers 200; GET /metrics serves Prometheus metrics. With
    reviewer accounts (AGENTFLOW_REVIEWERS or AGENTFLOW_REVIEWERS_FILE) it also serves the
    approval inbox at /inbox.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings()
    config = _edge_config(settings, webhooks)
    ingress = build_deployment(settings).topic(INGRESS_ROLE)
    try:
        partitions = check_topics(settings.kafka, [ingress])[ingress]
    except StartupError as exc:
        raise UserError(str(exc)) from None
    import uvicorn  # here: only serve needs it
    from prometheus_client import CollectorRegistry

    from edge.app import build_app, inbox_publisher
    from edge.metrics import EdgeMetrics
    from edge.publisher import Publisher

    publisher = Publisher(settings.kafka.client_config(), ingress, partitions,
                          settings.edge.ack_timeout_s)  # fmt: skip
    tracing = Tracing.from_settings(settings.tracing, "agentflow-serve")
    pages = _inbox_pages(settings, config, inbox_publisher(publisher, tracing))
    secret = settings.edge.session_secret
    secret_value = secret.get_secret_value() if secret else None
    app = build_app(config, publisher, pages, secret_value, EdgeMetrics(CollectorRegistry()),
                    tracing)  # fmt: skip
    try:
        uvicorn.run(
            app,
            host=host or settings.edge.serve_host,
            port=settings.edge.serve_port if port is None else port,
            log_level=log_level,
            access_log=False,
        )
    finally:
        if tracing is not None:
            tracing.shutdown()
