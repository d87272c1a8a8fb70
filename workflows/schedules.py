"""Schedules: events that time makes, declared next to the workflows they start.

    NIGHTLY = Schedule(
        name="nightly_reconcile",
        cron="0 2 * * *",                 # 02:00 every day (a sixth field: seconds)
        timezone="Europe/Berlin",
        tenant="acme",
        data={"job": "reconcile-payments"},
        catch_up="latest",
    )

Each tick fires one ``schedule.fired`` event (payload: the schedule's name, the tick's due time
and ``data``) for workflow ``workflow_id`` (default ``<name>-<due time, UTC>``). Its event id
derives from the name and the due time, so a tick fires once, whoever fires it. Ticks missed
while no worker ran follow ``catch_up``: ``latest`` fires only the latest missed tick,
``all`` every missed tick within ``catch_up_window_s``, ``none`` none of them. A schedule is
registered with the definitions (``DefinitionRegistry(..., schedules=[...])``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from workflows.triggers import DefinitionError, is_name

CatchUp = Literal["latest", "all", "none"]
CATCH_UPS: tuple[CatchUp, ...] = ("latest", "all", "none")


@dataclass(frozen=True)
class Schedule:
    """One schedule; see the module docstring."""

    name: str
    cron: str
    tenant: str
    timezone: str = "UTC"
    data: Mapping[str, str] = field(default_factory=dict)
    #: ``{schedule}`` and ``{due}`` (the tick, ISO UTC) are filled in.
    workflow_id: str = "{schedule}-{due}"
    catch_up: CatchUp = "latest"
    catch_up_window_s: int = 3600

    def __post_init__(self) -> None:
        where = f"schedule {self.name!r}"
        if not is_name(self.name):
            raise DefinitionError(f"{where}: the name must match [a-z][a-z0-9_]*")
        if not croniter.is_valid(self.cron):
            raise DefinitionError(f"{where}: {self.cron!r} is not a cron expression")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DefinitionError(f"{where}: {self.timezone!r} is not a time zone") from None
        if self.catch_up not in CATCH_UPS:
            raise DefinitionError(f"{where}: catch_up must be one of {', '.join(CATCH_UPS)}")
        if self.catch_up_window_s < 0:
            raise DefinitionError(f"{where}: catch_up_window_s must be >= 0")
