"""``agentflow schedules list | pause | resume``: the registry's schedules and their state."""

from __future__ import annotations

import time
import uuid
from typing import Any

import click
from rich.table import Table

from agentflow.cli.output import console, print_json
from agentflow.composition import load_registry, topology_deployment
from agentflow.errors import UserError
from agentflow.sdk import EventProducer, SdkError
from agentflow.settings import Settings, load_settings
from processors.events import ScheduleAction, ScheduleControlPayloadV1, ScheduleControlV1
from processors.schedules import (
    SCHEDULE_SOURCE,
    SCHEDULER_ACTOR,
    SCHEDULES,
    SCHEDULES_TABLE,
    due_ticks,
    iso_utc,
    owner_partition,
)
from replay.reader import ReplayError, latest_values, topic_ends
from workflows import Schedule


def _kept(settings: Settings) -> dict[str, dict[str, Any]]:
    """Each schedule's committed state (last tick handled, paused), from its changelog."""
    topic = topology_deployment(settings).changelog(SCHEDULES_TABLE)
    config = settings.kafka.client_config()
    try:
        ends = topic_ends(config, topic)
    except ReplayError:
        return {}  # no worker has run schedules yet
    raw = latest_values(config, ends)
    return {key.decode(): SCHEDULES.codec.decode(value) for key, value in raw.items()}


def _row(schedule: Schedule, kept: dict[str, Any], now_ms: int, partitions: int) -> dict[str, Any]:
    upcoming = due_ticks(schedule, now_ms, now_ms + 366 * 86_400_000)[:1]
    last_fired = kept.get("last_fired_ms")
    return {
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "tenant": schedule.tenant,
        "catch_up": schedule.catch_up,
        "paused": bool(kept.get("paused", False)),
        "next_due": iso_utc(upcoming[0]) if upcoming else None,
        "last_fired": iso_utc(last_fired) if last_fired else None,
        "partition": owner_partition(schedule.name, partitions),
    }


@click.group("schedules")
def schedules_group() -> None:
    """The schedules of the configured workflows (AGENTFLOW_WORKFLOWS)."""


@schedules_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the schedules as JSON.")
def list_cmd(as_json: bool) -> None:
    """Each schedule: its cron and time zone, whether it is paused, its next tick and the last
    one fired (read from the workers' committed state)."""
    settings = load_settings()
    registry = load_registry(settings)
    kept = _kept(settings) if registry.schedules else {}
    now_ms = int(time.time() * 1000)
    partitions = settings.deployment.partitions
    rows = [_row(s, kept.get(s.name, {}), now_ms, partitions) for s in registry.schedules]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No schedules: the workflows (AGENTFLOW_WORKFLOWS) declare none.")
        return
    table = Table("schedule", "cron", "time zone", "tenant", "catch-up", "paused", "next due",
                  "last fired")  # fmt: skip
    for r in rows:
        paused = "yes" if r["paused"] else "no"
        cells = (r["name"], r["cron"], r["timezone"], r["tenant"], r["catch_up"], paused)
        table.add_row(*cells, r["next_due"] or "-", r["last_fired"] or "-")
    console.print(table)


def _control(name: str, action: ScheduleAction, as_json: bool) -> None:
    settings = load_settings()
    schedule = load_registry(settings).schedule(name)
    if schedule is None:
        raise UserError(f"no schedule {name!r}: `agentflow schedules list` names them")
    event = ScheduleControlV1(
        event_id=f"schedule-{action}-{uuid.uuid4().hex[:12]}",
        occurred_at=int(time.time() * 1000),
        source=SCHEDULE_SOURCE,
        tenant=schedule.tenant,
        actor=SCHEDULER_ACTOR,
        workflow_id=name,  # the key: the partition whose worker fires the schedule
        payload=ScheduleControlPayloadV1(schedule=name, action=action),
    )
    try:
        with EventProducer.from_settings(settings) as producer:
            producer.check_topic()
            producer.send(event)
            [report] = producer.flush()
    except SdkError as exc:
        raise UserError(f"{exc} (a {SCHEDULE_SOURCE!r} signing key signs schedule commands)") \
            from None  # fmt: skip
    if not report.ok:
        raise UserError(f"the {action} was not delivered: {report.error}")
    done = {"schedule": name, "action": action, "event_id": event.event_id,
            "partition": report.partition, "offset": report.offset}  # fmt: skip
    if as_json:
        print_json(done)
    else:
        console.print(f"Sent {action} for schedule {name}: its worker applies it on its next "
                      f"record (partition {report.partition}).", highlight=False)  # fmt: skip


@schedules_group.command("pause")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print what was sent as JSON.")
def pause_cmd(name: str, as_json: bool) -> None:
    """Stop firing NAME's ticks until it is resumed (ticks due meanwhile are skipped)."""
    _control(name, "pause", as_json)


@schedules_group.command("resume")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print what was sent as JSON.")
def resume_cmd(name: str, as_json: bool) -> None:
    """Fire NAME's ticks again, from the next one due (no backlog)."""
    _control(name, "resume", as_json)
