"""Schedules through the test driver: the worker's pipeline fires each due tick as a signed
``schedule.fired`` on ingress, which the gate admits and a workflow starts on; a paused
schedule fires nothing and resumes with no backlog; missed ticks follow the catch-up policy."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from processors.contract import Emit
from processors.engine import OrchestratorProcessor
from processors.events import ScheduleControlPayloadV1, ScheduleControlV1, ScheduleFiredV1, decode
from processors.pipeline import WorkflowPipeline
from processors.roles import INGRESS_ROLE
from processors.schedules import SCHEDULER_ACTOR, SCHEDULES_TABLE, Scheduler, iso_utc
from streams.driver import TestDriver
from tests import gatekit as gk
from tests.integration.schedule_flows import registry, schedule_named

START_MS = gk.NOW_MS - gk.NOW_MS % 1000


def _driver(tmp_path: Path) -> tuple[TestDriver, Scheduler]:
    gate = gk.make_gate()
    flows = registry(window_s=10)
    scheduler = Scheduler(flows.schedules, gate.keyring, gk.KEY_ID["agentflow-schedules"])
    pipeline = WorkflowPipeline(gate, OrchestratorProcessor(flows), scheduler)
    return TestDriver([pipeline], tmp_path, partitions=gk.PARTITIONS, start_ms=START_MS), scheduler


def _fired(emits: list[Emit]) -> Counter[str]:
    """Ticks fired per schedule, by decoding the ingress records."""
    events = [decode(e.value or b"") for e in emits if e.role == INGRESS_ROLE]
    return Counter(e.payload.schedule for e in events if isinstance(e, ScheduleFiredV1))


def _deliver(driver: TestDriver, emits: list[Emit]) -> None:
    """Put what the scheduler produced on ingress, as the broker would."""
    for e in emits:
        if e.role == INGRESS_ROLE:
            driver.pipe(INGRESS_ROLE, e.key, e.value, e.headers)


def test_each_tick_fires_once_and_starts_its_workflow(tmp_path: Path) -> None:
    driver, _ = _driver(tmp_path)
    with driver:
        assert _fired(driver.advance_time(1000)) == Counter()  # first sight: from now on
        fired: Counter[str] = Counter()
        for _ in range(5):
            emits = driver.advance_time(1000)
            fired += _fired(emits)
            _deliver(driver, emits)
        assert fired == Counter({schedule_named(p): 5 for p in ("all", "latest", "none")})
        assert driver.read("quarantine") == []
        for second in range(2, 7):  # every tick started (and finished) its own workflow
            state = driver.state(
                "workflows", f"tick_all-{iso_utc(START_MS + second * 1000)}".encode()
            )
            assert state is not None
            assert (state.status, state.definition_name) == ("done", "tick_all_run")


def test_a_paused_schedule_fires_nothing_and_resumes_without_a_backlog(tmp_path: Path) -> None:
    driver, scheduler = _driver(tmp_path)
    name = schedule_named("all")
    with driver:
        driver.advance_time(1000)
        pause = ScheduleControlV1(
            event_id="pause-1", occurred_at=driver.now_ms, source="agentflow-schedules",
            tenant="acme", actor=SCHEDULER_ACTOR, workflow_id=name,
            payload=ScheduleControlPayloadV1(schedule=name, action="pause"),
        )  # fmt: skip
        signed = scheduler.signed(pause)
        assert driver.pipe(INGRESS_ROLE, signed.key, signed.value, signed.headers) == []
        paused: Counter[str] = Counter()
        for _ in range(5):
            paused += _fired(driver.advance_time(1000))
        assert paused[name] == 0 and paused[schedule_named("none")] == 5
        resumed = pause.payload.model_copy(update={"action": "resume"})
        resume = pause.model_copy(update={"event_id": "resume-1", "payload": resumed})
        signed = scheduler.signed(resume)
        driver.pipe(INGRESS_ROLE, signed.key, signed.value, signed.headers)
        assert _fired(driver.advance_time(1000))[name] == 1  # the on-time tick, no backlog
        kept = driver.state(SCHEDULES_TABLE, name.encode())
        assert kept is not None and kept["paused"] is False


def test_missed_ticks_follow_each_schedules_catch_up_policy(tmp_path: Path) -> None:
    driver, _ = _driver(tmp_path)
    with driver:
        driver.advance_time(1000)
        fired = _fired(driver.advance_time(30_000))  # no punctuation for 30 s: a worker down
        assert fired == Counter({
            schedule_named("all"): 11,  # its 10 s window, and the tick due now
            schedule_named("latest"): 4,  # the ticks on time (within 3 s)
            schedule_named("none"): 4,
        })  # fmt: skip
