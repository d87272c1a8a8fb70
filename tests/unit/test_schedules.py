"""Schedules, pure: due ticks in a time zone, the catch-up policies, ids, declarations."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from processors.schedules import (
    ON_TIME_MS,
    due_ticks,
    fired_event,
    fired_event_id,
    iso_utc,
    owner_partition,
    ticks_to_fire,
)
from workflows import DefinitionError, DefinitionRegistry, Schedule, parse_trigger
from workflows.triggers import Trigger

T0 = 1_800_000_000_000  # a whole second


def _every_second(catch_up: str = "latest", window_s: int = 3600) -> Schedule:
    return Schedule("tick", "* * * * * *", "acme", catch_up=catch_up,  # type: ignore[arg-type]
                    catch_up_window_s=window_s)  # fmt: skip


def test_due_ticks_follow_the_cron_expression_in_its_time_zone() -> None:
    berlin = Schedule("nightly", "0 2 * * *", "acme", timezone="Europe/Berlin")
    start = int(datetime(2026, 3, 28, 0, 0, tzinfo=ZoneInfo("UTC")).timestamp() * 1000)
    ticks = due_ticks(berlin, start, start + 3 * 86_400_000)
    # 02:00 in Berlin: 01:00 UTC before summer time, 00:00 UTC after; on 29 March 02:00 does
    # not exist (the clocks jump to 03:00), and the tick comes at 03:00, 01:00 UTC.
    assert [iso_utc(t) for t in ticks] == [
        "2026-03-28T01:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z",
        "2026-03-31T00:00:00Z",
    ]  # fmt: skip
    assert due_ticks(_every_second(), T0, T0 + 3000) == [T0 + 1000, T0 + 2000, T0 + 3000]


def test_a_schedule_seen_first_starts_from_now() -> None:
    assert ticks_to_fire(_every_second(), None, T0) == ([], T0)


def test_on_time_ticks_fire_under_every_policy() -> None:
    for policy in ("all", "latest", "none"):
        assert ticks_to_fire(_every_second(policy), T0, T0 + 2000) == (
            [T0 + 1000, T0 + 2000], T0 + 2000,
        ), policy  # fmt: skip


def test_missed_ticks_follow_the_catch_up_policy() -> None:
    now = T0 + 30_000  # 30 s down: ticks 1..30 are due, the last three on time
    late_all, last = ticks_to_fire(_every_second("all"), T0, now)
    assert late_all == [T0 + s * 1000 for s in range(1, 31)] and last == now
    assert ticks_to_fire(_every_second("all", window_s=10), T0, now)[0] == [
        T0 + s * 1000 for s in range(20, 31)
    ]
    on_time = [t for t in late_all if now - t <= ON_TIME_MS]
    assert ticks_to_fire(_every_second("latest"), T0, now)[0] == on_time
    assert ticks_to_fire(_every_second("none"), T0, now)[0] == on_time
    # When no tick is on time, "latest" fires the latest one and "none" nothing.
    hourly = Schedule("hourly", "0 * * * *", "acme", catch_up="latest")
    hour = 3_600_000
    start = T0 - T0 % hour
    assert ticks_to_fire(hourly, start, start + 5 * hour + 600_000) == (
        [start + 5 * hour], start + 5 * hour,
    )  # fmt: skip
    none = Schedule("hourly", "0 * * * *", "acme", catch_up="none")
    assert ticks_to_fire(none, start, start + 5 * hour + 600_000) == ([], start + 5 * hour)


def test_a_tick_has_the_same_id_and_workflow_whoever_fires_it() -> None:
    schedule = Schedule("nightly", "0 2 * * *", "acme", data={"job": "reconcile"})
    event = fired_event(schedule, T0)
    assert event.event_id == fired_event_id("nightly", T0) == fired_event(schedule, T0).event_id
    assert event.workflow_id == f"nightly-{iso_utc(T0)}" == "nightly-2027-01-15T08:00:00Z"
    assert (event.payload.schedule, event.payload.due_at, event.payload.data) == (
        "nightly", T0, {"job": "reconcile"},
    )  # fmt: skip
    assert owner_partition("nightly", 4) == owner_partition("nightly", 4) in range(4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Bad-Name"}, "the name must match"),
        ({"cron": "every day"}, "is not a cron expression"),
        ({"timezone": "Mars/Olympus"}, "is not a time zone"),
        ({"catch_up": "some"}, "catch_up must be one of latest, all, none"),
    ],
)
def test_a_bad_schedule_says_what_is_wrong(kwargs: dict[str, str], message: str) -> None:
    args = {"name": "ok", "cron": "0 2 * * *", "tenant": "acme", **kwargs}
    with pytest.raises(DefinitionError, match=message):
        Schedule(**args)  # type: ignore[arg-type]


def test_a_schedule_trigger_parses_and_a_schedule_needs_a_workflow() -> None:
    assert parse_trigger("schedule.fired:nightly") == Trigger(
        "schedule.fired:nightly", "schedule", "schedule.fired", schedule="nightly"
    )
    with pytest.raises(DefinitionError, match=r"schedule\.fired:<schedule>"):
        parse_trigger("schedule.fired")
    with pytest.raises(DefinitionError, match="no definition starts on it"):
        DefinitionRegistry([], schedules=[Schedule("nightly", "0 2 * * *", "acme")])
