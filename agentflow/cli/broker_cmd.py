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
@click.option("--nodes", type=click.Choice(["1", "3"]), default="1", show_default=True,
              help="One KRaft node, or a three-node cluster (ports 9092-9100 by default; "
              "topics then get three replicas and min.insync.replicas=2).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def up_cmd(nodes: str, as_json: bool) -> None:
    """Start the broker, or the cluster's nodes, once, and wait until every node answers;
    print the bootstrap address. Run again, it starts a node of the cluster that stopped."""
    started = time.monotonic()
    st = broker.up(echo=lambda m: console.print(m, style="dim") if not as_json else None,
                   nodes=int(nodes))  # fmt: skip
    if as_json:
        print_json(st.as_dict() | {"seconds": round(time.monotonic() - started, 2)})
    else:
        pids = ", ".join(str(n["pid"]) for n in st.nodes)
        console.print(
            f"Kafka {st.kafka_version} is up at [bold]{st.bootstrap}[/] "
            f"({len(st.nodes)} node{'s' if len(st.nodes) > 1 else ''}, pid {pids}, "
            f"{time.monotonic() - started:.1f}s)"
        )


@broker_group.command("down")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def down_cmd(as_json: bool) -> None:
    """Stop the broker (or every node of the cluster) that `broker up` started, by its pid;
    leave any other alone."""
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
        pids = ", ".join(str(n["pid"]) for n in st.nodes)
        console.print(f"running at {st.bootstrap} (pid {pids}, Kafka {st.kafka_version})")
    else:
        console.print(f"not running (would listen at {st.bootstrap})")
