"""``agentflow demo``: the main job on sample events, printed as it happens."""

from __future__ import annotations

import time
import uuid

import click
from confluent_kafka import Consumer, Producer
from rich.table import Table

from agentflow.cli.output import console, print_json
from streams.settings import Settings
from topics import by_role, catalog


@click.command("demo")
@click.option("--workflows", default=5, show_default=True, help="How many sample workflows.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def demo_cmd(workflows: int, as_json: bool) -> None:
    """Round trip: produce sample events keyed by workflow id to the ingress topic and read
    them back, showing each workflow's events land on one partition, in order."""
    settings = Settings()
    topic = settings.topic(by_role(catalog())["ingress"].name)
    run = uuid.uuid4().hex[:6]
    events = [
        (f"wf-{run}-{i}", etype)
        for i in range(workflows)
        for etype in ("ticket.created", "ticket.updated", "ticket.closed")
    ]
    producer = Producer(
        {**settings.client_config(), "partitioner": "murmur2_random", "enable.idempotence": True}
    )
    for key, etype in events:
        producer.produce(topic, f'{{"event_type": "{etype}"}}'.encode(), key.encode())
    producer.flush(30)
    consumer = Consumer(
        {**settings.client_config(), "group.id": f"demo-{run}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    seen: list[tuple[str, int, str]] = []
    deadline = time.monotonic() + 30
    while len(seen) < len(events) and time.monotonic() < deadline:
        for msg in consumer.consume(500, 0.5):
            key = (msg.key() or b"").decode()
            if msg.error() is None and key.startswith(f"wf-{run}-"):
                seen.append((key, msg.partition(), msg.value().decode()))
    consumer.close()
    if as_json:
        print_json([{"workflow_id": k, "partition": p, "value": v} for k, p, v in seen])
        return
    table = Table("workflow_id", "partition", "event")
    for key, partition, value in seen:
        table.add_row(key, str(partition), value)
    console.print(table)
    console.print(f"{len(seen)} of {len(events)} events read back from {topic}.")
