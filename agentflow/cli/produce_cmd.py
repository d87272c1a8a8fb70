"""``agentflow produce``: send events from a JSON file (or stdin) to ingress through the SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
from rich.progress import Progress

from agentflow.cli.output import err_console, fail, print_json
from agentflow.cli.quarantine_cmd import QUIET, plain, quarantine_group
from agentflow.errors import UserError
from agentflow.sdk import EventProducer, InvalidEventError, OutgoingRecord, event_from_dict
from agentflow.sdk.records import ContentType
from agentflow.settings import load_settings

#: From this many events on, ``produce`` shows a progress bar (on stderr, when it is a terminal).
PROGRESS_FROM = 500


def parse_events(text: str, name: str) -> list[tuple[str, Any]]:
    """``(label, object)`` per event of a JSON array, one JSON object, or JSON lines."""
    if not text.strip():
        raise UserError(f"{name} holds no events; give a JSON array of events or JSON lines")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, list):
        return [(f"event at index {i}", obj) for i, obj in enumerate(doc)]
    if isinstance(doc, dict):
        return [("event at index 0", doc)]
    events: list[tuple[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise UserError(
                f"{name} line {n} is not JSON ({exc}); give a JSON array of event objects "
                "or one JSON object per line"
            ) from None
        events.append((f"event at index {len(events)} (line {n})", obj))
    return events


@contextmanager
def _progress(total: int, what: str) -> Iterator[Any]:
    """A callable advancing a progress bar on stderr, shown for large inputs only."""
    if total < PROGRESS_FROM or not err_console.is_terminal:
        yield lambda: None
        return
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


def prepare_all(producer: EventProducer, events: list[tuple[str, Any]]) -> list[OutgoingRecord]:
    """Every event validated, encoded and signed; the first bad one stops it all."""
    records = []
    with _progress(len(events), "checking") as tick:
        for label, obj in events:
            try:
                records.append(producer.prepare(event_from_dict(obj)))
            except InvalidEventError as exc:
                raise UserError(f"{label}: {exc}. Nothing was sent; fix it and run again") from None
            tick()
    return records


@click.command("produce")
@click.argument("source", metavar="[FILE|-]", type=click.File("r"), default="-", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the delivery reports as JSON.")
@click.option(
    "--content-type",
    type=click.Choice(["avro", "json"]),
    default="avro",
    show_default=True,
    help="Encode values as Avro single-object encoding, or as JSON.",
)
@click.option(
    "--key-id",
    metavar="ID",
    help="Sign with this key id (default: the first live key of each event's source).",
)
def produce_cmd(
    source: IO[str], as_json: bool, content_type: ContentType, key_id: str | None
) -> None:
    """Send events to the ingress topic, signed like an upstream system would.

    FILE holds a JSON array of event envelopes, one envelope, or JSON lines ('-' or nothing:
    stdin). Every event is validated, encoded and signed first; if one is invalid, nothing is
    sent and the error names it. Keys come from AGENTFLOW_SIGNING_KEYS or
    AGENTFLOW_SIGNING_KEYS_FILE, like the worker's. Prints one line per event (or --json:
    [{event_id, workflow_id, topic, partition, offset}]).
    """
    if source.isatty():
        raise UserError("no events: give a FILE, or pipe JSON events on stdin (`... | produce -`)")
    events = parse_events(source.read(), source.name)
    producer = EventProducer.from_settings(
        load_settings(), key_id=key_id, content_type=content_type, config=QUIET
    )
    records = prepare_all(producer, events)
    producer.check_topic()
    with _progress(len(records), "sending") as tick:
        for record in records:
            producer.send_record(record)
            tick()
    reports = producer.flush()
    failed = [r for r in reports if not r.ok]
    if as_json:
        print_json(
            [
                {k: v for k, v in r.as_dict().items() if k != "error" or v is not None}
                for r in reports
            ]
        )
    else:
        for r in reports:
            where = f"{r.topic}[{r.partition}]@{r.offset}" if r.ok else f"FAILED: {r.error}"
            plain(f"{r.event_id}  {r.workflow_id}  → {where}")
    if failed:
        fail(f"{len(failed)} of {len(reports)} event(s) were not delivered: {failed[0].error}", 1)
    if not as_json and len(reports) > 1:
        plain(f"sent {len(reports)} events to {producer.topic}", style="dim")


def register(cli: click.Group) -> None:
    """Add ``produce`` and ``quarantine`` to the ``agentflow`` CLI."""
    cli.add_command(produce_cmd)
    cli.add_command(quarantine_group)
