"""Entry point of the ``agentflow`` console script."""

from __future__ import annotations

import click
from confluent_kafka import KafkaException
from pydantic import ValidationError

from agentflow import __version__
from agentflow.broker import BrokerError
from agentflow.cli.approvals_cmd import approvals_group
from agentflow.cli.broker_cmd import broker_group
from agentflow.cli.demo_cmd import demo_cmd
from agentflow.cli.output import fail
from agentflow.cli.produce_cmd import register as register_sdk_commands
from agentflow.cli.replay_cmd import replay_cmd
from agentflow.cli.schedules_cmd import schedules_group
from agentflow.cli.serve_cmd import serve_cmd
from agentflow.cli.steps_cmd import steps_group
from agentflow.cli.top_cmd import top_cmd
from agentflow.cli.topics_cmd import topics_group
from agentflow.cli.worker_cmd import worker_cmd
from agentflow.cli.workflow_cmd import workflow_group
from agentflow.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agentflow")
def cli() -> None:
    """agentflow: event-driven AI-agent workflows on Kafka."""


cli.add_command(broker_group)
cli.add_command(topics_group)
cli.add_command(worker_cmd)
cli.add_command(steps_group)
cli.add_command(demo_cmd)
cli.add_command(workflow_group)
cli.add_command(replay_cmd)
cli.add_command(serve_cmd)
cli.add_command(schedules_group)
cli.add_command(approvals_group)
cli.add_command(top_cmd)
register_sdk_commands(cli)


def main() -> None:
    """Run the CLI; user mistakes end in one clear line, not a traceback."""
    try:
        cli(standalone_mode=True)
    except (UserError, BrokerError) as exc:
        fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(
            f"AGENTFLOW_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid settings: {problems}")
    except KafkaException as exc:
        fail(
            f"Kafka said: {exc.args[0] if exc.args else exc}. Is the broker up "
            "(`agentflow broker up`) and AGENTFLOW_BOOTSTRAP_SERVERS right?"
        )


if __name__ == "__main__":
    main()
