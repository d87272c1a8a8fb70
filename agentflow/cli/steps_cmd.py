"""``agentflow steps run``: the step runner."""

from __future__ import annotations

import logging
import signal
from dataclasses import asdict

import click

from agentflow.cli.observe import METRICS_PORT_OPTION, host_observers
from agentflow.cli.output import print_json
from agentflow.cli.worker_cmd import ROLE_OPTION, parse_roles
from agentflow.composition import build_deployment, step_executor
from agentflow.errors import UserError
from agentflow.gate_config import load_keyring
from agentflow.settings import load_settings
from processors.events import Actor
from processors.steps import STEP_SOURCE
from streams.collector import tune_collector
from streams.errors import HostError, StartupError
from streams.tracing import Tracing

#: Who the runner's answers say ran the step.
RUNNER_ACTOR = Actor(id="agentflow-step-runner", kind="service", roles=["agent"])


@click.group("steps")
def steps_group() -> None:
    """Run the workflows' agent steps."""


@steps_group.command("run")
@ROLE_OPTION
@click.option("--key-id", default=None, metavar="KEY_ID",
              help=f"Sign answers with this key of the {STEP_SOURCE!r} source (default: its "
              "only, or first, unrevoked key).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="On stop, print what it did as JSON.")
@METRICS_PORT_OPTION
@click.option("--log-level", default="INFO", show_default=True)
def run_cmd(
    role_pairs: tuple[str, ...],
    key_id: str | None,
    as_json: bool,
    metrics_port: int | None,
    log_level: str,
) -> None:
    """Run step commands until SIGTERM or SIGINT, exactly once.

    It reads the steps topic, runs each command's declared step (a Python handler or a model,
    with its allowed tools) and answers on ingress with step.completed or step.failed, signed
    as the agentflow-steps source. Results, the side-effect ledger and the consumed offsets
    commit in one Kafka transaction. Concurrency: AGENTFLOW_STEPS_MAX_IN_FLIGHT (100),
    AGENTFLOW_STEPS_MAX_PER_TENANT (50); past AGENTFLOW_STEPS_MAX_BUFFERED (1000) waiting
    commands it pauses its partitions. On SIGTERM, steps in flight get AGENTFLOW_STEPS_GRACE_S
    (30) seconds to finish. Workflows: AGENTFLOW_WORKFLOWS; tools: AGENTFLOW_TOOLS with
    AGENTFLOW_TOOL_URLS; models: AGENTFLOW_MODEL_BASE_URL and AGENTFLOW_MODEL_API_KEY. The
    ledger's changelog topic must exist: `agentflow topics ensure` creates it.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # A line per tool call and model request is noise (the OpenAI SDK speaks through httpx2).
    for noisy in ("httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings()
    keyring = load_keyring(settings.signing)
    key_ids = keyring.key_ids(STEP_SOURCE)
    if key_id is None:
        if not key_ids:
            raise UserError(
                f"no signing key for the {STEP_SOURCE!r} source: add one to the signing keys "
                "(AGENTFLOW_SIGNING_KEYS or AGENTFLOW_SIGNING_KEYS_FILE)"
            )
        key_id = key_ids[0]
    elif key_id not in key_ids:
        raise UserError(f"--key-id {key_id!r} is not an unrevoked key of {STEP_SOURCE!r}: "
                        f"{list(key_ids)}")  # fmt: skip
    deployment = build_deployment(settings, roles=parse_roles(role_pairs))
    log = logging.getLogger("agentflow.steps")
    observer, registry = host_observers(settings.host, "steps", log, metrics_port)
    tracing = Tracing.from_settings(settings.tracing, "agentflow-steps")
    try:
        # Here: pydantic-ai takes seconds to import.
        from agents.metrics import StepMetrics
        from agents.runner import StepRunner

        runner = StepRunner(
            settings.kafka,
            settings.host,
            settings.runner,
            deployment,
            step_executor(settings, RUNNER_ACTOR, tracing=tracing),
            keyring,
            key_id,
            observer,
            step_metrics=StepMetrics(registry),
        )
        signal.signal(signal.SIGTERM, runner.request_stop)
        signal.signal(signal.SIGINT, runner.request_stop)
        tune_collector(settings.host.gc_threshold)
        figures = runner.run()
    except (StartupError, HostError) as exc:
        raise UserError(str(exc)) from None
    finally:
        if tracing is not None:
            tracing.shutdown()
    if as_json:
        print_json(asdict(figures))
    else:
        click.echo(f"steps: {figures.completed} completed, {figures.failed} failed, "
                   f"{figures.skipped_done} already done, {figures.commits} commits")  # fmt: skip
