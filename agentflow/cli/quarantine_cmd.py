"""``agentflow quarantine list | show | release``: inspect rejected records and send them back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import IO, Any

import click
from rich.markup import escape
from rich.table import Table

from agentflow.cli.output import console, err_console, print_json
from agentflow.composition import build_deployment
from agentflow.errors import UserError
from agentflow.sdk import EventProducer, InvalidEventError, SdkError, event_from_dict
from agentflow.sdk.quarantine import (
    RELEASED_FROM_HEADER,
    QuarantineEntry,
    fetch_entry,
    iso_ms,
    read_entries,
)
from agentflow.sdk.records import ContentType
from agentflow.settings import Settings, load_settings
from processors.reasons import REASONS
from processors.roles import QUARANTINE_ROLE

#: librdkafka options for the CLI's clients: failures surface as one error line, not log spam.
QUIET = {"log_level": 2}


def plain(text: str, style: str | None = None) -> None:
    """Print ``text`` as it is: no markup, no highlighting, no wrapping (user data inside)."""
    console.print(text, style=style, highlight=False, markup=False, soft_wrap=True)


def quarantine_topic(settings: Settings) -> str:
    return build_deployment(settings).topic(QUARANTINE_ROLE)


def parse_time(value: str | None, option: str) -> int | None:
    """Epoch milliseconds from digits or ISO-8601 (no offset = UTC)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{option} wants epoch milliseconds or ISO-8601 like 2026-01-31T12:00:00Z, "
            f"got {value!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def parse_position(value: str) -> tuple[int, int]:
    """``PARTITION:OFFSET`` (or ``TOPIC:PARTITION:OFFSET``, as in ``af-released-from``)."""
    parts = value.rsplit(":", 2)[-2:]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise UserError(f"want PARTITION:OFFSET like 2:17 (see `quarantine list`), got {value!r}")
    return int(parts[0]), int(parts[1])


@click.group("quarantine")
def quarantine_group() -> None:
    """Records the gate (or a failing processor) rejected: list, show, release to ingress."""


@quarantine_group.command(
    "list", short_help="List quarantined records; filter by reason, tenant, time."
)
@click.option("--reason", help="Only this reason code (e.g. signature_invalid).")
@click.option("--tenant", help="Only this tenant (records that named one).")
@click.option("--since", metavar="ISO|MS", help="Quarantined at or after (ISO-8601 or epoch ms).")
@click.option("--until", metavar="ISO|MS", help="Quarantined before (ISO-8601 or epoch ms).")
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N", help="At most N records (oldest first)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object a record.")
def list_cmd(
    reason: str | None,
    tenant: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List quarantined records, oldest first (read_committed, up to the current end).

    --json objects have partition, offset, reason, detail, event_id, tenant and workflow_id
    (null when the record did not say), quarantined_at (ISO-8601 UTC, e.g.
    2026-01-31T12:00:00.000Z) and quarantined_at_ms (epoch ms), original_topic,
    original_partition, original_offset and quarantined_by (what refused it, with its
    version).
    """
    since_ms, until_ms = parse_time(since, "--since"), parse_time(until, "--until")
    if reason is not None and reason not in REASONS:
        err_console.print(
            f"note: {reason!r} is not a reason code agentflow gives; "
            "see the reason table in the README",
            style="yellow",
        )
    settings = load_settings()
    entries = [
        e
        for e in read_entries(settings.kafka.client_config(), quarantine_topic(settings), since_ms)
        if (reason is None or e.reason == reason)
        and (tenant is None or e.summary()["tenant"] == tenant)
        and (since_ms is None or e.quarantined_at_ms >= since_ms)
        and (until_ms is None or e.quarantined_at_ms < until_ms)
    ]
    entries.sort(key=lambda e: (e.quarantined_at_ms, e.partition, e.offset))
    entries = entries[:limit] if limit else entries
    if as_json:
        print_json([e.summary() for e in entries])
        return
    table = Table("position", "quarantined at (UTC)", "reason", "event_id", "tenant", "detail")
    for column in table.columns[:5]:
        column.no_wrap = True
    for e in entries:
        s = e.summary()
        table.add_row(
            f"{e.partition}:{e.offset}",
            s["quarantined_at"][:19].replace("T", " "),
            s["reason"],
            s["event_id"] or "-",
            s["tenant"] or "-",
            (s["detail"] or "")[:80],
        )
    console.print(table)
    console.print(f"{len(entries)} record(s) in {quarantine_topic(settings)}", style="dim")


def _entry(position: str) -> QuarantineEntry:
    settings = load_settings()
    partition, offset = parse_position(position)
    try:
        return fetch_entry(
            settings.kafka.client_config(), quarantine_topic(settings), partition, offset
        )
    except SdkError as exc:
        raise UserError(f"{exc}; `agentflow quarantine list` shows the positions") from None


@quarantine_group.command(
    "show", short_help="Show one record: original bytes, decoded value, headers."
)
@click.argument("position", metavar="PARTITION:OFFSET")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def show_cmd(position: str, as_json: bool) -> None:
    """Show one quarantined record: reason, headers, and the original key and value as hex and,
    where they decode (Avro or JSON), as JSON."""
    info = _entry(position).details()
    if as_json:
        print_json(info)
        return
    for name in ("reason", "detail", "event_id", "tenant", "workflow_id", "quarantined_at"):
        _line(name, info[name])
    _line(
        "original",
        f"{info['original_topic']}:{info['original_partition']}:{info['original_offset']}",
    )
    console.print("[bold]headers[/]")
    for h in info["headers"]:
        shown = h["value"] if h["value"] is not None else f"(hex) {h['value_hex']}"
        plain(f"  {h['key']}: {shown}")
    _line("key (hex)", info["key_hex"])
    _line("value (hex)", info["value_hex"])
    if info["value_problem"]:
        _line("value problem", info["value_problem"])
    if info["value"] is not None:
        console.print("[bold]value (decoded)[/]")
        console.print_json(json.dumps(info["value"], default=str))


def _line(name: str, value: object) -> None:
    console.print(f"[bold]{name:15}[/] {escape(str(value))}", highlight=False, soft_wrap=True)


@quarantine_group.command(
    "release", short_help="Re-submit a record to ingress, unchanged or fixed."
)
@click.argument("position", metavar="PARTITION:OFFSET")
@click.option(
    "--fixed",
    type=click.File("r"),
    metavar="FILE",
    help="Send this corrected event (a JSON envelope) instead, signed with its source's key.",
)
@click.option(
    "--content-type",
    type=click.Choice(["avro", "json"]),
    help="With --fixed: how to encode it (default: as the original was).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new ingress position as JSON.")
def release_cmd(
    position: str, fixed: IO[str] | None, content_type: ContentType | None, as_json: bool
) -> None:
    """Send a quarantined record back to ingress, where the gate checks it again.

    Without --fixed the original key, value and headers go unchanged; with --fixed the
    corrected event is re-signed with its source's key (AGENTFLOW_SIGNING_KEYS or
    AGENTFLOW_SIGNING_KEYS_FILE). Either way an af-released-from header names the
    quarantine record ("<quarantine topic>:<partition>:<offset>").
    """
    entry = _entry(position)
    settings = load_settings()
    producer = EventProducer.from_settings(settings, config=QUIET)
    producer.check_topic()
    if fixed is None:
        producer.send_record(entry.release_record())
    else:
        try:
            obj = json.loads(fixed.read())
            event = event_from_dict(obj)
            producer.send(
                event,
                content_type=content_type or entry.content_type(),
                headers=[(RELEASED_FROM_HEADER, entry.ref.encode())],
            )
        except ValueError as exc:
            problem = str(exc) if isinstance(exc, InvalidEventError) else f"not JSON: {exc}"
            raise UserError(f"--fixed {fixed.name}: {problem}; nothing was released") from None
    (report,) = producer.flush()
    if not report.ok:
        raise UserError(f"release of {entry.ref} failed: {report.error}")
    out: dict[str, Any] = {
        "released_from": entry.ref,
        "topic": report.topic,
        "partition": report.partition,
        "offset": report.offset,
        "event_id": report.event_id or entry.summary()["event_id"],
        "fixed": fixed is not None,
    }
    if as_json:
        print_json(out)
        return
    plain(
        f"released {entry.ref} ({entry.reason}, quarantined {iso_ms(entry.quarantined_at_ms)}) "
        f"→ {report.topic}[{report.partition}]@{report.offset}"
    )
