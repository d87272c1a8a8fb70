"""Schedules on the real broker: three every-second schedules (one per catch-up policy) fire
through two worker restarts (SIGTERM, then SIGKILL), a failover to a second worker, and 30 s
with no worker. Counted on the ingress topic: every tick of the ``all`` schedule exactly once,
no tick of any schedule twice, and the ``latest`` and ``none`` schedules fire none of the
ticks missed in the 30 s (their on-time ticks only)."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from processors.events import ScheduleFiredV1, decode
from tests.integration.enginekit.deployment import EngineDeployment
from tests.integration.enginekit.readers import read_topic
from tests.integration.schedule_flows import schedule_named
from tests.integration.workers import SHIPPED_CONFIG, Worker, run_cli

pytestmark = pytest.mark.timeout(300)

FLOWS = {"AGENTFLOW_WORKFLOWS": "tests.integration.schedule_flows:every_second"}
DOWN_S = 30


def _ticks(dep: EngineDeployment) -> dict[str, list[int]]:
    """Due times of the ticks on ingress, per schedule, in topic order."""
    out: dict[str, list[int]] = defaultdict(list)
    for m in read_topic(dep.bootstrap, dep.ingress):
        event = decode(m.value or b"")
        if isinstance(event, ScheduleFiredV1):
            out[event.payload.schedule].append(event.payload.due_at)
    return out


def _wait_ticks(dep: EngineDeployment, more: int, after: int | None = None) -> int:
    """Wait until the ``all`` schedule fired ``more`` ticks beyond ``after`` (a count)."""
    name = schedule_named("all")
    base = len(_ticks(dep)[name]) if after is None else after
    deadline = time.monotonic() + 60
    while (count := len(_ticks(dep)[name])) < base + more:
        assert time.monotonic() < deadline, f"only {count - base} of {more} more ticks"
        time.sleep(0.5)
    return count


def test_ticks_fire_exactly_once_across_restarts_failover_and_downtime(
    kafka_bootstrap: str, run_prefix: str, tmp_path: Path
) -> None:
    dep = EngineDeployment.make(kafka_bootstrap, f"{run_prefix}sched.", tmp_path, tag="sch")
    workers: list[Worker] = []
    try:
        w1 = dep.worker("w1", env=FLOWS)
        workers.append(w1)
        _wait_ticks(dep, 3)
        assert w1.stop() == 0, w1.log()  # restart 1: SIGTERM
        w1 = dep.worker("w1", env=FLOWS)
        workers.append(w1)
        _wait_ticks(dep, 3)
        w1.kill()  # restart 2: SIGKILL, inside whatever it was doing
        w1 = dep.worker("w1", env=FLOWS)
        workers.append(w1)
        _wait_ticks(dep, 3)
        w2 = dep.worker("w2", env=FLOWS)  # failover: a second worker, then the first dies
        workers.append(w2)
        _wait_ticks(dep, 2)
        w1.kill()
        _wait_ticks(dep, 3)
        assert w2.stop() == 0, w2.log()
        down_ms = int(time.time() * 1000)
        time.sleep(DOWN_S)
        up_ms = int(time.time() * 1000)
        w2 = dep.worker("w2", env=FLOWS)
        workers.append(w2)
        _wait_ticks(dep, 3)
        listed = run_cli("schedules", "list", "--json", env={**dep.cli_env(), **FLOWS})
        assert w2.stop() == 0, w2.log()
        ticks = _ticks(dep)
    finally:
        for w in workers:
            w.kill()
        dep.delete()
    every = ticks[schedule_named("all")]
    assert len(every) == len(set(every)), "a tick of the all-schedule fired twice"
    first, last = min(every), max(every)
    assert sorted(every) == list(range(first, last + 1000, 1000))  # none missing, in 60 s+
    assert last - first >= (DOWN_S + 10) * 1000
    gap = range(down_ms + 2000, up_ms - 4000)  # missed ticks, none of them on time
    assert len([t for t in every if t in gap]) >= DOWN_S - 8  # all fired, late but once
    for policy in ("latest", "none"):
        fired = ticks[schedule_named(policy)]
        assert Counter(fired).most_common(1)[0][1] == 1, f"{policy}: a tick fired twice"
        assert [t for t in fired if t in gap] == [], f"{policy} fired missed ticks"
        assert any(t >= up_ms for t in fired), f"{policy} stopped firing"
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {schedule_named(p) for p in ("all", "latest", "none")}
    assert rows[schedule_named("all")]["last_fired"] is not None


def test_a_paused_schedule_stops_firing_until_it_is_resumed(
    kafka_bootstrap: str, run_prefix: str, tmp_path: Path
) -> None:
    """``agentflow schedules pause`` and ``resume`` through the CLI: while paused, the ``all``
    schedule fires nothing (the others go on); resumed, it fires from the next tick."""
    dep = EngineDeployment.make(kafka_bootstrap, f"{run_prefix}pause.", tmp_path, tag="pau")
    env = {**dep.cli_env(), **FLOWS, **SHIPPED_CONFIG}
    name = schedule_named("all")
    worker = dep.worker("w1", env=FLOWS)
    try:
        _wait_ticks(dep, 2)
        paused = run_cli("schedules", "pause", name, "--json", env=env)
        assert paused.returncode == 0, paused.stderr
        listed: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while not any(r["name"] == name and r["paused"] for r in listed):
            assert time.monotonic() < deadline, listed
            listed = json.loads(run_cli("schedules", "list", "--json", env=env).stdout)
            time.sleep(0.5)
        before = _ticks(dep)
        time.sleep(4)
        during = _ticks(dep)
        resumed = run_cli("schedules", "resume", name, "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        others = schedule_named("none")
        assert len(during[name]) <= len(before[name]) + 1  # at most one already in flight
        assert len(during[others]) >= len(before[others]) + 3
        _wait_ticks(dep, 2, after=len(during[name]))
        assert worker.stop() == 0, worker.log()
    finally:
        worker.kill()
        dep.delete()
