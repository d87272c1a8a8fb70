"""Firing schedules' ticks: which are due, which the catch-up policy fires, and the events.

Each schedule (:class:`workflows.Schedule`) belongs to one input partition, the one its name
hashes to, so exactly one worker fires it. On every punctuation the :class:`Scheduler` of that
partition looks at the ticks due since the last one it handled (kept in table ``schedules``,
changelog-backed) and fires them as signed ``schedule.fired`` events on the ingress topic, in
the same transaction as the table write: a tick fires once across restarts, failover and two
workers, and its event id (from the schedule's name and the tick's due time) would be dropped
as a duplicate anyway.

A tick is *on time* if it is fired within :data:`ON_TIME_MS` of its due time; the others were
missed (no worker ran) and follow the schedule's ``catch_up``: ``all`` fires those within its
window, ``latest`` only the latest due tick (when no tick is on time), ``none`` none. A
schedule seen for the first time starts from now. A paused schedule fires nothing and keeps
its place, so resuming it fires no backlog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from croniter import croniter

from processors.codecs import JsonCodec
from processors.contract import Context, Emit, Put, Result, StateView, TableSpec
from processors.engine.ids import derive_id
from processors.events import (
    CONTENT_TYPE_AVRO,
    HEADER_CONTENT_TYPE,
    Actor,
    KeyRing,
    ScheduleControlV1,
    ScheduleFiredPayloadV1,
    ScheduleFiredV1,
    encode,
)
from processors.partitioning import partition_for
from processors.roles import INGRESS_ROLE
from workflows import Schedule

SCHEDULES_TABLE: Final = "schedules"
SCHEDULES: Final = TableSpec(SCHEDULES_TABLE, JsonCodec())
#: The source the scheduler signs its events as; it needs a signing key, and the policy must
#: allow it ``schedule.*`` for the schedules' tenants.
SCHEDULE_SOURCE: Final = "agentflow-schedules"
SCHEDULER_ACTOR: Final = Actor(id="agentflow-scheduler", kind="system")
#: A tick fired later than this after its due time was missed.
ON_TIME_MS: Final = 3_000
#: At most this many ticks are looked at per schedule and punctuation.
MAX_TICKS: Final = 10_000


def owner_partition(schedule_name: str, partitions: int) -> int:
    """The input partition whose worker fires ``schedule_name``."""
    return partition_for(schedule_name.encode(), partitions)


def due_ticks(schedule: Schedule, after_ms: int, now_ms: int) -> list[int]:
    """The schedule's ticks due in ``(after_ms, now_ms]``, in its time zone, oldest first."""
    start = datetime.fromtimestamp(after_ms / 1000, ZoneInfo(schedule.timezone))
    it = croniter(schedule.cron, start)
    out: list[int] = []
    while len(out) < MAX_TICKS:
        tick = round(it.get_next(float) * 1000)
        if tick > now_ms:
            break
        if tick > after_ms:
            out.append(tick)
    return out


def ticks_to_fire(schedule: Schedule, last_ms: int | None, now_ms: int) -> tuple[list[int], int]:
    """The ticks to fire now and the new last handled tick (see the module docstring)."""
    if last_ms is None:
        return [], now_ms
    due = due_ticks(schedule, last_ms, now_ms)
    if not due:
        return [], last_ms
    on_time = [t for t in due if now_ms - t <= ON_TIME_MS]
    if schedule.catch_up == "all":
        window_ms = schedule.catch_up_window_s * 1000
        fire = [t for t in due if now_ms - t <= max(window_ms, ON_TIME_MS)]
    elif schedule.catch_up == "latest":
        fire = on_time or [due[-1]]
    else:
        fire = on_time
    return fire, due[-1]


def fired_event_id(schedule_name: str, due_ms: int) -> str:
    """The id of the tick of ``schedule_name`` due at ``due_ms``: the same whoever fires it."""
    return derive_id(f"schedule:{schedule_name}", str(due_ms))


def iso_utc(ms: int) -> str:
    """``2026-12-01T05:00:00Z`` (milliseconds only when not whole seconds)."""
    at = datetime.fromtimestamp(ms / 1000, UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{ms % 1000:03d}Z" if ms % 1000 else "Z")


def fired_event(schedule: Schedule, due_ms: int) -> ScheduleFiredV1:
    """The ``schedule.fired`` of the tick due at ``due_ms``."""
    workflow_id = schedule.workflow_id.replace("{schedule}", schedule.name).replace(
        "{due}", iso_utc(due_ms)
    )
    return ScheduleFiredV1(
        event_id=fired_event_id(schedule.name, due_ms),
        occurred_at=due_ms,
        source=SCHEDULE_SOURCE,
        tenant=schedule.tenant,
        actor=SCHEDULER_ACTOR,
        workflow_id=workflow_id,
        payload=ScheduleFiredPayloadV1(
            schedule=schedule.name, due_at=due_ms, data=dict(schedule.data)
        ),
    )


@dataclass
class Scheduler:
    """Fires the schedules its partitions own; signs with ``key_id`` of ``keyring``."""

    schedules: tuple[Schedule, ...]
    keyring: KeyRing
    key_id: str

    def signed(self, event: ScheduleFiredV1 | ScheduleControlV1) -> Emit:
        """``event`` as a signed ingress record, keyed by its workflow id."""
        value = encode(event)
        headers = ((HEADER_CONTENT_TYPE, CONTENT_TYPE_AVRO.encode()),
                   *self.keyring.headers(self.key_id, event.key, value))  # fmt: skip
        return Emit(INGRESS_ROLE, event.key, value, headers)

    def tick(self, state: StateView, ctx: Context) -> Result:
        """Fire what is due on this punctuation, for the schedules of ``ctx.partition``."""
        emits: list[Emit] = []
        writes: list[Put] = []
        for schedule in self.schedules:
            if owner_partition(schedule.name, ctx.deployment.partitions) != ctx.partition:
                continue
            key = schedule.name.encode()
            kept: dict[str, Any] = state.get(SCHEDULES_TABLE, key) or {}
            last = kept.get("last_due_ms")
            fire, new_last = ticks_to_fire(schedule, last, ctx.now_ms)
            if kept.get("paused"):
                fire = []
            emits += [self.signed(fired_event(schedule, t)) for t in fire]
            if new_last != last:
                kept = {**kept, "last_due_ms": new_last}
                if fire:
                    kept["last_fired_ms"] = fire[-1]
                writes.append(Put(SCHEDULES_TABLE, key, kept))
        return Result(emits=tuple(emits), writes=tuple(writes))

    def control(self, event: ScheduleControlV1, state: StateView) -> Result:
        """Pause or resume the schedule the event names (a no-op for an unknown one)."""
        name = event.payload.schedule
        if not any(s.name == name for s in self.schedules):
            return Result.empty()
        key = name.encode()
        kept: dict[str, Any] = state.get(SCHEDULES_TABLE, key) or {}
        kept = {**kept, "paused": event.payload.action == "pause"}
        return Result(writes=(Put(SCHEDULES_TABLE, key, kept),))
