"""``agentflow broker up | down | status``: the local KRaft broker."""

from __future__ import annotations

import time

import click

from agentflow import broker
from agentflow.cli.output import console, print_json


@click.group("broker")
def broker_group() -> None:
    """Run the local Apache Kafka broker (KRaft, jars from Maven Central)."""


@broker_group.command("up")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def up_cmd(as_json: bool) -> None:
    """Start the broker (once) and wait until it answers; print the bootstrap address."""
    started = time.monotonic()
    st = broker.up(echo=lambda m: console.print(m, style="dim") if not as_json else None)
    if as_json:
        print_json(st.as_dict() | {"seconds": round(time.monotonic() - started, 2)})
    else:
        console.print(
            f"Kafka {st.kafka_version} is up at [bold]{st.bootstrap}[/] (pid {st.pid}, "
            f"{time.monotonic() - started:.1f}s)"
        )


@broker_group.command("down")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def down_cmd(as_json: bool) -> None:
    """Stop the broker that `broker up` started (by its pid); leave any other alone."""
    st = broker.down()
    if as_json:
        print_json(st.as_dict())
    else:
        console.print("The local broker is stopped.")


@broker_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_cmd(as_json: bool) -> None:
    """Show whether the local broker runs."""
    st = broker.status()
    if as_json:
        print_json(st.as_dict())
    elif st.running:
        console.print(f"running at {st.bootstrap} (pid {st.pid}, Kafka {st.kafka_version})")
    else:
        console.print(f"not running (would listen at {st.bootstrap})")
